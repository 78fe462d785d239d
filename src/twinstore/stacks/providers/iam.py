"""AWS::IAM::Role, ManagedPolicy, Policy, User and AccessKey, through the IAM query API."""

from __future__ import annotations

from typing import Any

from .base import ProviderContext, ProviderError, as_int, call, call_after_create, check_properties, ignore_not_found, \
    policy_json, tag_list


def _already_exists(e: ProviderError, rtype: str, name: str) -> ProviderError:
    if e.code == "EntityAlreadyExists":
        return ProviderError(f"{name} already exists", e.code)
    return e


def _attach_policies(ctx: ProviderContext, props: dict[str, Any], kind: str, **who: str) -> None:
    """A new role's or user's inline `Policies` and `ManagedPolicyArns` (kind: "role" | "user")."""
    for policy_name, doc in _inline(props):
        call_after_create(ctx, "iam", f"put_{kind}_policy", PolicyName=policy_name, PolicyDocument=doc, **who)
    for arn in props.get("ManagedPolicyArns") or []:
        call_after_create(ctx, "iam", f"attach_{kind}_policy", PolicyArn=str(arn), **who)


def _inline(props: dict[str, Any]) -> list[tuple[str, str]]:
    return [(str(p["PolicyName"]), policy_json(p["PolicyDocument"])) for p in props.get("Policies") or []]


class RoleProvider:
    type = "AWS::IAM::Role"
    supported = {"AssumeRolePolicyDocument", "Policies", "ManagedPolicyArns", "RoleName", "Path", "Description",
                 "MaxSessionDuration", "PermissionsBoundary", "Tags"}

    def create(self, ctx: ProviderContext, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        check_properties(self.type, props, self.supported, {"AssumeRolePolicyDocument"})
        name = str(props.get("RoleName") or ctx.generated_name(64))
        ctx.planned(name)
        try:
            out = call(ctx, "iam", "create_role", RoleName=name, Path=props.get("Path"),
                       AssumeRolePolicyDocument=policy_json(props["AssumeRolePolicyDocument"]),
                       Description=props.get("Description"),
                       MaxSessionDuration=as_int(props["MaxSessionDuration"]) if "MaxSessionDuration" in props
                       else None, PermissionsBoundary=props.get("PermissionsBoundary"), Tags=tag_list(ctx, props))
        except ProviderError as e:
            raise _already_exists(e, self.type, name) from None
        ctx.initiated(name)
        _attach_policies(ctx, props, "role", RoleName=name)
        role = out["Role"]
        return name, {"Arn": role["Arn"], "RoleId": role["RoleId"]}

    def delete(self, ctx: ProviderContext, physical_id: str, props: dict[str, Any], attrs: dict[str, Any]) -> None:
        for arn in props.get("ManagedPolicyArns") or []:
            ignore_not_found(lambda a=arn: call(ctx, "iam", "detach_role_policy", RoleName=physical_id,
                                                PolicyArn=str(a)))
        for policy_name, _ in _inline(props):
            ignore_not_found(lambda n=policy_name: call(ctx, "iam", "delete_role_policy", RoleName=physical_id,
                                                        PolicyName=n))
        ignore_not_found(lambda: call(ctx, "iam", "delete_role", RoleName=physical_id))

    def created_since(self, ctx: ProviderContext, name: str, since_us: int) -> bool:
        try:
            role = call(ctx, "iam", "get_role", RoleName=name)["Role"]
        except ProviderError as e:
            if e.code == "NoSuchEntity":
                return False
            raise
        return bool(role["CreateDate"].timestamp() * 1e6 >= since_us - 1_000_000)  # second precision


class ManagedPolicyProvider:
    type = "AWS::IAM::ManagedPolicy"
    supported = {"PolicyDocument", "ManagedPolicyName", "Path", "Description", "Roles", "Users", "Groups"}

    def create(self, ctx: ProviderContext, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        check_properties(self.type, props, self.supported, {"PolicyDocument"})
        name = str(props.get("ManagedPolicyName") or ctx.generated_name(128))
        try:
            out = call(ctx, "iam", "create_policy", PolicyName=name, Path=props.get("Path"),
                       PolicyDocument=policy_json(props["PolicyDocument"]), Description=props.get("Description"))
        except ProviderError as e:
            raise _already_exists(e, self.type, name) from None
        policy = out["Policy"]
        arn = policy["Arn"]
        ctx.initiated(arn)
        for role in props.get("Roles") or []:
            call_after_create(ctx, "iam", "attach_role_policy", RoleName=str(role), PolicyArn=arn)
        for user in props.get("Users") or []:
            call_after_create(ctx, "iam", "attach_user_policy", UserName=str(user), PolicyArn=arn)
        for group in props.get("Groups") or []:
            call_after_create(ctx, "iam", "attach_group_policy", GroupName=str(group), PolicyArn=arn)
        created = policy.get("CreateDate")
        updated = policy.get("UpdateDate", created)
        return arn, {"PolicyArn": arn, "PolicyId": policy.get("PolicyId", ""),
                     "DefaultVersionId": policy.get("DefaultVersionId", "v1"),
                     "AttachmentCount": str(len(props.get("Roles") or []) + len(props.get("Users") or [])
                                            + len(props.get("Groups") or [])),
                     "IsAttachable": "true", "PermissionsBoundaryUsageCount": "0",
                     "CreateDate": created.isoformat() if created else "",
                     "UpdateDate": updated.isoformat() if updated else ""}

    def delete(self, ctx: ProviderContext, physical_id: str, props: dict[str, Any], attrs: dict[str, Any]) -> None:
        for role in props.get("Roles") or []:
            ignore_not_found(lambda r=role: call(ctx, "iam", "detach_role_policy", RoleName=str(r),
                                                 PolicyArn=physical_id))
        for user in props.get("Users") or []:
            ignore_not_found(lambda u=user: call(ctx, "iam", "detach_user_policy", UserName=str(u),
                                                 PolicyArn=physical_id))
        for group in props.get("Groups") or []:
            ignore_not_found(lambda g=group: call(ctx, "iam", "detach_group_policy", GroupName=str(g),
                                                  PolicyArn=physical_id))
        try:
            versions = call(ctx, "iam", "list_policy_versions", PolicyArn=physical_id).get("Versions", [])
        except ProviderError as e:
            if e.code == "NoSuchEntity":
                return
            raise
        for v in versions:
            if not v.get("IsDefaultVersion"):
                ignore_not_found(lambda vid=v["VersionId"]: call(ctx, "iam", "delete_policy_version",
                                                                 PolicyArn=physical_id, VersionId=vid))
        ignore_not_found(lambda: call(ctx, "iam", "delete_policy", PolicyArn=physical_id))


class PolicyProvider:
    """An inline policy put on each listed role, user and group; the physical id is generated."""

    type = "AWS::IAM::Policy"
    supported = {"PolicyName", "PolicyDocument", "Roles", "Users", "Groups"}

    def create(self, ctx: ProviderContext, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        check_properties(self.type, props, self.supported, {"PolicyName", "PolicyDocument"})
        if not (props.get("Roles") or props.get("Users") or props.get("Groups")):
            raise ProviderError("At least one of [Groups,Roles,Users] must be non-empty.", "InvalidRequest")
        name, doc = str(props["PolicyName"]), policy_json(props["PolicyDocument"])
        physical = ctx.generated_name(128)
        ctx.initiated(physical)
        for role in props.get("Roles") or []:
            call_after_create(ctx, "iam", "put_role_policy", RoleName=str(role), PolicyName=name, PolicyDocument=doc)
        for user in props.get("Users") or []:
            call_after_create(ctx, "iam", "put_user_policy", UserName=str(user), PolicyName=name, PolicyDocument=doc)
        for group in props.get("Groups") or []:
            call_after_create(ctx, "iam", "put_group_policy", GroupName=str(group), PolicyName=name, PolicyDocument=doc)
        return physical, {"Id": physical}

    def delete(self, ctx: ProviderContext, physical_id: str, props: dict[str, Any], attrs: dict[str, Any]) -> None:
        name = str(props.get("PolicyName", ""))
        for role in props.get("Roles") or []:
            ignore_not_found(lambda r=role: call(ctx, "iam", "delete_role_policy", RoleName=str(r), PolicyName=name))
        for user in props.get("Users") or []:
            ignore_not_found(lambda u=user: call(ctx, "iam", "delete_user_policy", UserName=str(u), PolicyName=name))
        for group in props.get("Groups") or []:
            ignore_not_found(lambda g=group: call(ctx, "iam", "delete_group_policy", GroupName=str(g),
                                                  PolicyName=name))


class UserProvider:
    type = "AWS::IAM::User"
    supported = {"UserName", "Path", "Policies", "ManagedPolicyArns", "Groups", "PermissionsBoundary", "Tags"}

    def create(self, ctx: ProviderContext, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        check_properties(self.type, props, self.supported)
        name = str(props.get("UserName") or ctx.generated_name(64))
        try:
            out = call(ctx, "iam", "create_user", UserName=name, Path=props.get("Path"),
                       PermissionsBoundary=props.get("PermissionsBoundary"), Tags=tag_list(ctx, props))
        except ProviderError as e:
            raise _already_exists(e, self.type, name) from None
        ctx.initiated(name)
        _attach_policies(ctx, props, "user", UserName=name)
        for group in props.get("Groups") or []:
            call_after_create(ctx, "iam", "add_user_to_group", UserName=name, GroupName=str(group))
        return name, {"Arn": out["User"]["Arn"]}

    def delete(self, ctx: ProviderContext, physical_id: str, props: dict[str, Any], attrs: dict[str, Any]) -> None:
        for group in props.get("Groups") or []:
            ignore_not_found(lambda g=group: call(ctx, "iam", "remove_user_from_group", UserName=physical_id,
                                                  GroupName=str(g)))
        for arn in props.get("ManagedPolicyArns") or []:
            ignore_not_found(lambda a=arn: call(ctx, "iam", "detach_user_policy", UserName=physical_id,
                                                PolicyArn=str(a)))
        for policy_name, _ in _inline(props):
            ignore_not_found(lambda n=policy_name: call(ctx, "iam", "delete_user_policy", UserName=physical_id,
                                                        PolicyName=n))
        ignore_not_found(lambda: call(ctx, "iam", "delete_user", UserName=physical_id))


class AccessKeyProvider:
    type = "AWS::IAM::AccessKey"
    supported = {"UserName", "Status", "Serial"}

    def create(self, ctx: ProviderContext, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        check_properties(self.type, props, self.supported, {"UserName"})
        user = str(props["UserName"])
        key = call_after_create(ctx, "iam", "create_access_key", UserName=user)["AccessKey"]
        ctx.initiated(key["AccessKeyId"])
        if str(props.get("Status", "Active")) == "Inactive":
            call_after_create(ctx, "iam", "update_access_key", UserName=user, AccessKeyId=key["AccessKeyId"], Status="Inactive")
        return key["AccessKeyId"], {"SecretAccessKey": key["SecretAccessKey"]}

    def delete(self, ctx: ProviderContext, physical_id: str, props: dict[str, Any], attrs: dict[str, Any]) -> None:
        ignore_not_found(lambda: call(ctx, "iam", "delete_access_key", UserName=str(props.get("UserName", "")),
                                      AccessKeyId=physical_id))
