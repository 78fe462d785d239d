"""AWS::KMS::Key and AWS::KMS::Alias, through the KMS API. Deleting a key schedules its deletion."""

from __future__ import annotations

from typing import Any

from .base import ProviderContext, ProviderError, as_bool, as_int, call, check_properties, ignore_not_found, \
    policy_json, tag_list


class KeyProvider:
    type = "AWS::KMS::Key"
    supported = {"KeyPolicy", "Description", "Enabled", "EnableKeyRotation", "KeySpec", "KeyUsage", "MultiRegion",
                 "PendingWindowInDays", "Tags"}

    def create(self, ctx: ProviderContext, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        check_properties(self.type, props, self.supported)
        tags = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in tag_list(ctx, props) or []] or None
        meta = call(ctx, "kms", "create_key", Policy=policy_json(props["KeyPolicy"]) if "KeyPolicy" in props
                    else None, Description=props.get("Description"), KeyUsage=props.get("KeyUsage"),
                    KeySpec=props.get("KeySpec"),
                    MultiRegion=as_bool(props["MultiRegion"]) if "MultiRegion" in props else None,
                    Tags=tags)["KeyMetadata"]
        key_id = meta["KeyId"]
        ctx.initiated(key_id)
        if as_bool(props.get("EnableKeyRotation", False)):
            call(ctx, "kms", "enable_key_rotation", KeyId=key_id)
        if not as_bool(props.get("Enabled", True)):
            call(ctx, "kms", "disable_key", KeyId=key_id)
        return key_id, {"Arn": meta.get("Arn") or f"arn:aws:kms:{ctx.region}:{ctx.account_id}:key/{key_id}",
                        "KeyId": key_id}

    def delete(self, ctx: ProviderContext, physical_id: str, props: dict[str, Any], attrs: dict[str, Any]) -> None:
        days = as_int(props.get("PendingWindowInDays", 30))
        try:
            call(ctx, "kms", "schedule_key_deletion", KeyId=physical_id, PendingWindowInDays=days)
        except ProviderError as e:
            if e.code not in ("NotFoundException", "KMSInvalidStateException"):  # gone or already pending
                raise


class AliasProvider:
    type = "AWS::KMS::Alias"
    supported = {"AliasName", "TargetKeyId"}

    def create(self, ctx: ProviderContext, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        check_properties(self.type, props, self.supported, {"AliasName", "TargetKeyId"})
        name = str(props["AliasName"])
        try:
            call(ctx, "kms", "create_alias", AliasName=name, TargetKeyId=str(props["TargetKeyId"]))
        except ProviderError as e:
            if e.code == "AlreadyExistsException":
                raise ProviderError(f"{name} already exists", e.code) from None
            raise
        ctx.initiated(name)
        return name, {}

    def delete(self, ctx: ProviderContext, physical_id: str, props: dict[str, Any], attrs: dict[str, Any]) -> None:
        ignore_not_found(lambda: call(ctx, "kms", "delete_alias", AliasName=physical_id))
