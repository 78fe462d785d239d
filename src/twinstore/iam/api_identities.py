"""IAM operations on identities: users, access keys, roles, groups, tags."""

from __future__ import annotations

from typing import Any, Callable

from ..auth.request import ApiRequest
from ..protocol.timefmt import now_us
from .errors import limit_exceeded, no_such_entity, validation
from .model import GROUP, ROLE, USER, AccessKey, Entity, new_id, new_secret
from .policy import TRUST
from .service import (MAX_TRUST_CHARS, NAME_PARAM, OPS, IamService, boundary_param, check_document, group_out, op,
                      paginate, path_of, role_out, trust_principal_ids, user_out)


# ---- users --------------------------------------------------------------------------------------------------
@op("CreateUser")
async def create_user(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    p = req.params
    path = path_of(p)
    e = Entity(USER, p["UserName"], new_id(USER), path, svc.arn("user", path, p["UserName"]), now_us(),
               tags=p.get("Tags") or [], boundary=boundary_param(svc, p))
    await svc.iam.store.create_entity(e)
    return {"User": user_out(e)}


@op("GetUser")
async def get_user(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    name = req.params.get("UserName")
    if not name:
        if req.principal.type == "Root":
            return {"User": {"Path": "/", "UserName": "", "UserId": svc.account_id, "Arn": req.principal.arn,
                             "CreateDate": 0}}
        if req.principal.type != "IAMUser":
            raise validation("Must specify userName when calling with non-User credentials")
        name = req.principal.extra["user_name"]
    return {"User": user_out(svc.entity(USER, name))}


def _list_under_path(svc: IamService, req: ApiRequest, kind: str, member: str,
                     out: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """ListUsers/ListGroups: the entities of one kind under PathPrefix, by name, paginated."""
    prefix = req.params.get("PathPrefix") or "/"
    found = [e for (k, _), e in svc.iam.state.entities.items() if k == kind and e.path.startswith(prefix)]
    page, extra = paginate(found, req.params, lambda e: e.name)
    return {member: [out(e) for e in page], **extra}


@op("ListUsers")
async def list_users(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    return _list_under_path(svc, req, USER, "Users", user_out)


@op("DeleteUser")
async def delete_user(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    await svc.iam.store.delete_entity(USER, req.params["UserName"])
    return {}


# ---- access keys --------------------------------------------------------------------------------------------
def _key_user(svc: IamService, req: ApiRequest) -> str:
    name = req.params.get("UserName")
    if name:
        return svc.entity(USER, name).name
    if req.principal.type == "IAMUser":
        return req.principal.extra["user_name"]
    raise validation("Must specify userName when calling with non-User credentials")


@op("CreateAccessKey")
async def create_access_key(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    user = _key_user(svc, req)
    key = AccessKey(new_id("key", 20), user, new_secret(), "Active", now_us())
    await svc.iam.store.add_key(key)
    return {"AccessKey": {"UserName": user, "AccessKeyId": key.access_key_id, "Status": key.status,
                          "SecretAccessKey": key.secret, "CreateDate": key.created_us}}


@op("ListAccessKeys")
async def list_access_keys(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    user = _key_user(svc, req)
    keys = [k for k in svc.iam.state.keys.values() if k.user.lower() == user.lower()]
    page, extra = paginate(keys, req.params, lambda k: k.access_key_id)
    return {"AccessKeyMetadata": [{"UserName": k.user, "AccessKeyId": k.access_key_id, "Status": k.status,
                                   "CreateDate": k.created_us} for k in page], **extra}


@op("UpdateAccessKey")
async def update_access_key(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    status = req.params["Status"]
    if status not in ("Active", "Inactive"):
        raise validation(f"1 validation error detected: Value '{status}' at 'status' failed to satisfy constraint: "
                         "Member must satisfy enum value set: [Active, Inactive]")
    await svc.iam.store.update_key(_key_user(svc, req), req.params["AccessKeyId"], status)
    return {}


@op("DeleteAccessKey")
async def delete_access_key(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    await svc.iam.store.delete_key(_key_user(svc, req), req.params["AccessKeyId"])
    return {}


@op("GetAccessKeyLastUsed")
async def get_access_key_last_used(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    key = svc.iam.state.keys.get(req.params["AccessKeyId"])
    if key is None:
        raise no_such_entity(f"The Access Key with id {req.params['AccessKeyId']} cannot be found.")
    return {"UserName": key.user, "AccessKeyLastUsed": {"ServiceName": "N/A", "Region": "N/A"}}


# ---- roles --------------------------------------------------------------------------------------------------
def _max_session(p: dict[str, Any]) -> int:
    v = p.get("MaxSessionDuration", 3600)
    if not 3600 <= v <= 43200:
        raise validation(f"1 validation error detected: Value '{v}' at 'maxSessionDuration' failed to satisfy "
                         "constraint: Member must have value less than or equal to 43200")
    return v


@op("CreateRole")
async def create_role(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    p = req.params
    trust = check_document(p["AssumeRolePolicyDocument"], TRUST, MAX_TRUST_CHARS)
    trust_ids = trust_principal_ids(svc, trust)
    path = path_of(p)
    e = Entity(ROLE, p["RoleName"], new_id(ROLE), path, svc.arn("role", path, p["RoleName"]), now_us(), trust,
               p.get("Description") or "", _max_session(p), p.get("Tags") or [], boundary_param(svc, p), trust_ids)
    await svc.iam.store.create_entity(e)
    return {"Role": role_out(e, full=False)}


@op("GetRole")
async def get_role(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    return {"Role": role_out(svc.entity(ROLE, req.params["RoleName"]))}


@op("ListRoles")
async def list_roles(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    prefix = req.params.get("PathPrefix") or "/"
    roles = [e for (k, _), e in svc.iam.state.entities.items() if k == ROLE and e.path.startswith(prefix)]
    page, extra = paginate(roles, req.params, lambda e: e.name)
    return {"Roles": [role_out(e, full=False) for e in page], **extra}


@op("UpdateRole")
async def update_role(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    e = svc.entity(ROLE, req.params["RoleName"])
    if "Description" in req.params:
        e.description = req.params["Description"]
    if "MaxSessionDuration" in req.params:
        e.max_session = _max_session(req.params)
    await svc.iam.store.update_entity(e)
    return {}


@op("UpdateAssumeRolePolicy")
async def update_assume_role_policy(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    e = svc.entity(ROLE, req.params["RoleName"])
    e.trust = check_document(req.params["PolicyDocument"], TRUST, MAX_TRUST_CHARS)
    e.trust_ids = trust_principal_ids(svc, e.trust)
    await svc.iam.store.update_entity(e)
    return {}


@op("DeleteRole")
async def delete_role(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    await svc.iam.store.delete_entity(ROLE, req.params["RoleName"])
    return {}


# ---- groups -------------------------------------------------------------------------------------------------
@op("CreateGroup")
async def create_group(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    p = req.params
    path = path_of(p)
    e = Entity(GROUP, p["GroupName"], new_id(GROUP), path, svc.arn("group", path, p["GroupName"]), now_us())
    await svc.iam.store.create_entity(e)
    return {"Group": group_out(e)}


@op("GetGroup")
async def get_group(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    g = svc.entity(GROUP, req.params["GroupName"])
    users = [svc.iam.state.entity(USER, u) for u in svc.iam.state.members.get(g.name.lower(), [])]
    page, extra = paginate([u for u in users if u is not None], req.params, lambda e: e.name)
    return {"Group": group_out(g), "Users": [user_out(u) for u in page], **extra}


@op("ListGroups")
async def list_groups(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    return _list_under_path(svc, req, GROUP, "Groups", group_out)


@op("ListGroupsForUser")
async def list_groups_for_user(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    u = svc.entity(USER, req.params["UserName"])
    groups = [svc.iam.state.entity(GROUP, g) for g in svc.iam.state.groups_of(u.name)]
    page, extra = paginate([g for g in groups if g is not None], req.params, lambda e: e.name)
    return {"Groups": [group_out(g) for g in page], **extra}


@op("DeleteGroup")
async def delete_group(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    await svc.iam.store.delete_entity(GROUP, req.params["GroupName"])
    return {}


@op("AddUserToGroup")
async def add_user_to_group(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    await svc.iam.store.add_member(req.params["GroupName"], req.params["UserName"])
    return {}


@op("RemoveUserFromGroup")
async def remove_user_from_group(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    await svc.iam.store.remove_member(req.params["GroupName"], req.params["UserName"])
    return {}


# ---- tags ---------------------------------------------------------------------------------------------------
MAX_TAGS = 50


def _tag_ops(kind: str, noun: str) -> None:
    param = NAME_PARAM[kind]

    async def tag(svc: IamService, req: ApiRequest) -> dict[str, Any]:
        e = svc.entity(kind, req.params[param])
        merged = {t["Key"]: t["Value"] for t in e.tags}
        merged.update({t["Key"]: t.get("Value", "") for t in req.params.get("Tags") or []})
        if len(merged) > MAX_TAGS:
            raise limit_exceeded(f"The number of tags has reached the maximum limit of {MAX_TAGS}.")
        e.tags = [{"Key": k, "Value": v} for k, v in merged.items()]
        await svc.iam.store.update_entity(e)
        return {}

    async def untag(svc: IamService, req: ApiRequest) -> dict[str, Any]:
        e = svc.entity(kind, req.params[param])
        drop = set(req.params.get("TagKeys") or [])
        e.tags = [t for t in e.tags if t["Key"] not in drop]
        await svc.iam.store.update_entity(e)
        return {}

    async def list_tags(svc: IamService, req: ApiRequest) -> dict[str, Any]:
        e = svc.entity(kind, req.params[param])
        page, extra = paginate(e.tags, req.params, lambda t: t["Key"])
        return {"Tags": page, **extra}

    OPS[f"Tag{noun}"] = tag
    OPS[f"Untag{noun}"] = untag
    OPS[f"List{noun}Tags"] = list_tags


_tag_ops(USER, "User")
_tag_ops(ROLE, "Role")


@op("UpdateRoleDescription")
async def update_role_description(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    e = svc.entity(ROLE, req.params["RoleName"])
    e.description = req.params["Description"]
    await svc.iam.store.update_entity(e)
    return {"Role": role_out(e)}
