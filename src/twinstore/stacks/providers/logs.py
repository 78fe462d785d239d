"""AWS::Logs::LogGroup, through the CloudWatch Logs API."""

from __future__ import annotations

from typing import Any

from .base import ProviderContext, ProviderError, as_int, call, check_properties, ignore_not_found, tag_list


class LogGroupProvider:
    type = "AWS::Logs::LogGroup"
    supported = {"LogGroupName", "RetentionInDays", "KmsKeyId", "LogGroupClass", "Tags"}

    def create(self, ctx: ProviderContext, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        check_properties(self.type, props, self.supported)
        name = str(props.get("LogGroupName") or ctx.generated_name(512))
        tags = {t["Key"]: t["Value"] for t in tag_list(ctx, props) or []} or None
        try:
            call(ctx, "logs", "create_log_group", logGroupName=name, kmsKeyId=props.get("KmsKeyId"), tags=tags,
                 logGroupClass=props.get("LogGroupClass"))
        except ProviderError as e:
            if e.code == "ResourceAlreadyExistsException":
                raise ProviderError(f"{name} already exists", e.code) from None
            raise
        ctx.initiated(name)
        if "RetentionInDays" in props:
            call(ctx, "logs", "put_retention_policy", logGroupName=name,
                 retentionInDays=as_int(props["RetentionInDays"]))
        return name, {"Arn": f"arn:aws:logs:{ctx.region}:{ctx.account_id}:log-group:{name}:*"}

    def delete(self, ctx: ProviderContext, physical_id: str, props: dict[str, Any], attrs: dict[str, Any]) -> None:
        ignore_not_found(lambda: call(ctx, "logs", "delete_log_group", logGroupName=physical_id))
