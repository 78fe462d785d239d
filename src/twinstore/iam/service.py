"""The IAM query API (global: every region serves the same state from the deployment's iam.db)."""

from __future__ import annotations

import base64
from typing import Any, Awaitable, Callable
from urllib.parse import quote

from ..auth.request import ApiRequest
from ..protocol.errors import AWSError
from ..protocol.timefmt import now_us
from .authority import Iam
from .conditions import PolicyError
from .errors import invalid_input, limit_exceeded, malformed_policy, no_such_entity, validation
from .model import GROUP, ROLE, USER, AccessKey, Entity, ManagedPolicy, PolicyVersion, new_id, new_secret
from .policy import IDENTITY, TRUST, compile_policy
from .sqlite_store import missing
from .validate import check_input

MAX_MANAGED_CHARS = 6144
MAX_TRUST_CHARS = 2048
MAX_INLINE = {USER: 2048, ROLE: 10240, GROUP: 5120}
_NAME_PARAM = {USER: "UserName", ROLE: "RoleName", GROUP: "GroupName"}

Op = Callable[["IamService", ApiRequest], Awaitable[dict[str, Any]]]
OPS: dict[str, Op] = {}


def op(name: str) -> Callable[[Op], Op]:
    def reg(fn: Op) -> Op:
        OPS[name] = fn
        return fn
    return reg


def encoded(doc: str) -> str:
    """Policy documents leave IAM URL-encoded (botocore decodes them)."""
    return quote(doc, safe="-_.~")


def _no_ws_len(doc: str) -> int:
    return len("".join(doc.split()))


def check_document(doc: str, kind: str, max_chars: int) -> str:
    if _no_ws_len(doc) > max_chars:
        raise limit_exceeded(f"Cannot exceed quota for {'ACLSizePerRole' if kind == TRUST else 'PolicySize'}: "
                             f"{max_chars}")
    try:
        compile_policy(doc, kind)
    except PolicyError as e:
        raise malformed_policy(str(e)) from None
    return doc


def check_trust_principals(svc: "IamService", doc: str) -> None:
    """A trust policy may only name users and roles of this account that exist (AWS resolves them at save)."""
    for st in compile_policy(doc, TRUST).statements:
        for arn in sorted(st.principal.aws if st.principal else ()):
            parts = arn.split(":", 5)
            if parts[4] != svc.account_id or not (parts[5].startswith("user/") or parts[5].startswith("role/")):
                continue
            kind = USER if parts[5].startswith("user/") else ROLE
            e = svc.iam.state.entity(kind, parts[5].rsplit("/", 1)[-1])
            if e is None or e.arn != arn:
                raise malformed_policy(f'Invalid principal in policy: "AWS":"{arn}"')


def _path(params: dict[str, Any]) -> str:
    return params.get("Path") or "/"


def _page(items: list[Any], params: dict[str, Any], marker_of: Callable[[Any], str] | None = None
          ) -> tuple[list[Any], dict[str, Any]]:
    """One page of a listing; the Marker is the opaque position of the next item."""
    start = 0
    marker = params.get("Marker")
    if marker:
        try:
            start = int(base64.urlsafe_b64decode(marker.encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise invalid_input("Invalid Marker.") from None
    max_items = params.get("MaxItems") or 100
    page = items[start:start + max_items]
    if start + max_items < len(items):
        return page, {"IsTruncated": True, "Marker": base64.urlsafe_b64encode(str(start + max_items).encode())
                      .decode()}
    return page, {"IsTruncated": False}


class IamService:
    service = "iam"

    def __init__(self, iam: Iam) -> None:
        self.iam = iam
        self.account_id = iam.account_id

    async def call(self, req: ApiRequest) -> dict[str, Any]:
        fn = OPS.get(req.operation)
        if fn is None:
            raise AWSError("InvalidAction", f"twinstore does not implement IAM {req.operation} yet", status=400)
        check_input("iam", req.operation, req.params)
        await self.iam.refresh()
        return await fn(self, req)

    def resource_arn(self, req: ApiRequest) -> str:
        """The ARN an IAM action acts on, for authorization at the edge."""
        p = req.params
        if "PolicyArn" in p:
            return p["PolicyArn"]
        if req.operation in ("CreatePolicy",):
            return f"arn:aws:iam::{self.account_id}:policy{_path(p)}{p.get('PolicyName', '')}"
        for kind, param in (("role", "RoleName"), ("group", "GroupName"), ("user", "UserName")):
            if param in p:
                e = self.iam.state.entity(kind, p[param])
                return e.arn if e else f"arn:aws:iam::{self.account_id}:{kind}{_path(p)}{p[param]}"
        if req.operation in ("GetUser", "CreateAccessKey", "ListAccessKeys") and req.principal.type == "IAMUser":
            return req.principal.arn
        return "*"

    # ---- shared -------------------------------------------------------------------------------------------
    def arn(self, kind: str, path: str, name: str) -> str:
        return f"arn:aws:iam::{self.account_id}:{kind}{path}{name}"

    def entity(self, kind: str, name: str) -> Entity:
        e = self.iam.state.entity(kind, name)
        if e is None:
            raise missing(kind, name)
        return e

    def managed(self, arn: str) -> ManagedPolicy:
        p = self.iam.policy(arn)
        if p is None:
            raise no_such_entity(f"Policy {arn} was not found.")
        return p

    def policy_out(self, p: ManagedPolicy) -> dict[str, Any]:
        return {"PolicyName": p.name, "PolicyId": p.id, "Arn": p.arn, "Path": p.path,
                "DefaultVersionId": p.default_version, "AttachmentCount": self.iam.state.attachment_count(p.arn),
                "PermissionsBoundaryUsageCount": 0, "IsAttachable": True, "Description": p.description or None,
                "CreateDate": p.created_us, "UpdateDate": p.updated_us}


def user_out(e: Entity) -> dict[str, Any]:
    out: dict[str, Any] = {"Path": e.path, "UserName": e.name, "UserId": e.id, "Arn": e.arn, "CreateDate": e.created_us}
    if e.tags:
        out["Tags"] = e.tags
    return out


def role_out(e: Entity, full: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"Path": e.path, "RoleName": e.name, "RoleId": e.id, "Arn": e.arn,
                           "CreateDate": e.created_us, "AssumeRolePolicyDocument": encoded(e.trust),
                           "MaxSessionDuration": e.max_session}
    if e.description:
        out["Description"] = e.description
    if e.tags:
        out["Tags"] = e.tags
    if full:
        out["RoleLastUsed"] = {}
    return out


def group_out(e: Entity) -> dict[str, Any]:
    return {"Path": e.path, "GroupName": e.name, "GroupId": e.id, "Arn": e.arn, "CreateDate": e.created_us}


# ---- users --------------------------------------------------------------------------------------------------
@op("CreateUser")
async def create_user(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    p = req.params
    path = _path(p)
    e = Entity(USER, p["UserName"], new_id(USER), path, svc.arn("user", path, p["UserName"]), now_us(),
               tags=p.get("Tags") or [])
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


@op("ListUsers")
async def list_users(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    prefix = req.params.get("PathPrefix") or "/"
    users = [e for (k, _), e in svc.iam.state.entities.items() if k == USER and e.path.startswith(prefix)]
    page, extra = _page(users, req.params, lambda e: e.name)
    return {"Users": [user_out(e) for e in page], **extra}


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
    page, extra = _page(keys, req.params, lambda k: k.access_key_id)
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
    check_trust_principals(svc, trust)
    path = _path(p)
    e = Entity(ROLE, p["RoleName"], new_id(ROLE), path, svc.arn("role", path, p["RoleName"]), now_us(), trust,
               p.get("Description") or "", _max_session(p), p.get("Tags") or [])
    await svc.iam.store.create_entity(e)
    return {"Role": role_out(e, full=False)}


@op("GetRole")
async def get_role(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    return {"Role": role_out(svc.entity(ROLE, req.params["RoleName"]))}


@op("ListRoles")
async def list_roles(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    prefix = req.params.get("PathPrefix") or "/"
    roles = [e for (k, _), e in svc.iam.state.entities.items() if k == ROLE and e.path.startswith(prefix)]
    page, extra = _page(roles, req.params, lambda e: e.name)
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
    check_trust_principals(svc, e.trust)
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
    path = _path(p)
    e = Entity(GROUP, p["GroupName"], new_id(GROUP), path, svc.arn("group", path, p["GroupName"]), now_us())
    await svc.iam.store.create_entity(e)
    return {"Group": group_out(e)}


@op("GetGroup")
async def get_group(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    g = svc.entity(GROUP, req.params["GroupName"])
    users = [svc.iam.state.entity(USER, u) for u in svc.iam.state.members.get(g.name.lower(), [])]
    page, extra = _page([u for u in users if u is not None], req.params, lambda e: e.name)
    return {"Group": group_out(g), "Users": [user_out(u) for u in page], **extra}


@op("ListGroups")
async def list_groups(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    prefix = req.params.get("PathPrefix") or "/"
    groups = [e for (k, _), e in svc.iam.state.entities.items() if k == GROUP and e.path.startswith(prefix)]
    page, extra = _page(groups, req.params, lambda e: e.name)
    return {"Groups": [group_out(e) for e in page], **extra}


@op("ListGroupsForUser")
async def list_groups_for_user(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    u = svc.entity(USER, req.params["UserName"])
    groups = [svc.iam.state.entity(GROUP, g) for g in svc.iam.state.groups_of(u.name)]
    page, extra = _page([g for g in groups if g is not None], req.params, lambda e: e.name)
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


# ---- inline policies ----------------------------------------------------------------------------------------
def _inline_ops(kind: str, noun: str) -> None:
    param = _NAME_PARAM[kind]

    async def put(svc: IamService, req: ApiRequest) -> dict[str, Any]:
        doc = check_document(req.params["PolicyDocument"], IDENTITY, MAX_INLINE[kind])
        e = svc.entity(kind, req.params[param])
        await svc.iam.store.put_inline(kind, e.name, req.params["PolicyName"], doc, MAX_INLINE[kind])
        return {}

    async def get(svc: IamService, req: ApiRequest) -> dict[str, Any]:
        e = svc.entity(kind, req.params[param])
        docs = {k.lower(): (k, v) for k, v in svc.iam.state.inline.get((kind, e.name.lower()), {}).items()}
        got = docs.get(req.params["PolicyName"].lower())
        if got is None:
            raise no_such_entity(f"The {kind} policy with name {req.params['PolicyName']} cannot be found.")
        return {param: e.name, "PolicyName": got[0], "PolicyDocument": encoded(got[1])}

    async def lst(svc: IamService, req: ApiRequest) -> dict[str, Any]:
        e = svc.entity(kind, req.params[param])
        names = sorted(svc.iam.state.inline.get((kind, e.name.lower()), {}))
        page, extra = _page(names, req.params, lambda n: n)
        return {"PolicyNames": page, **extra}

    async def delete(svc: IamService, req: ApiRequest) -> dict[str, Any]:
        await svc.iam.store.delete_inline(kind, req.params[param], req.params["PolicyName"])
        return {}

    async def attach(svc: IamService, req: ApiRequest) -> dict[str, Any]:
        arn = req.params["PolicyArn"]
        _check_policy_arn(arn)
        await svc.iam.store.attach(kind, req.params[param], arn, arn in svc.iam.builtin)
        return {}

    async def detach(svc: IamService, req: ApiRequest) -> dict[str, Any]:
        arn = req.params["PolicyArn"]
        _check_policy_arn(arn)
        await svc.iam.store.detach(kind, req.params[param], arn)
        return {}

    async def list_attached(svc: IamService, req: ApiRequest) -> dict[str, Any]:
        e = svc.entity(kind, req.params[param])
        prefix = req.params.get("PathPrefix") or "/"
        pols = [svc.iam.policy(a) for a in svc.iam.state.attached.get((kind, e.name.lower()), [])]
        pols = [p for p in pols if p is not None and p.path.startswith(prefix)]
        page, extra = _page(pols, req.params, lambda p: p.name)
        return {"AttachedPolicies": [{"PolicyName": p.name, "PolicyArn": p.arn} for p in page], **extra}

    OPS[f"Put{noun}Policy"] = put
    OPS[f"Get{noun}Policy"] = get
    OPS[f"List{noun}Policies"] = lst
    OPS[f"Delete{noun}Policy"] = delete
    OPS[f"Attach{noun}Policy"] = attach
    OPS[f"Detach{noun}Policy"] = detach
    OPS[f"ListAttached{noun}Policies"] = list_attached


_inline_ops(USER, "User")
_inline_ops(ROLE, "Role")
_inline_ops(GROUP, "Group")


def _check_policy_arn(arn: str) -> None:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam" or not parts[5].startswith("policy/"):
        raise invalid_input(f"ARN {arn} is not valid.")


# ---- managed policies ---------------------------------------------------------------------------------------
@op("CreatePolicy")
async def create_policy(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    p = req.params
    doc = check_document(p["PolicyDocument"], IDENTITY, MAX_MANAGED_CHARS)
    path = _path(p)
    now = now_us()
    mp = ManagedPolicy(svc.arn("policy", path, p["PolicyName"]), p["PolicyName"], new_id("policy"), path,
                       p.get("Description") or "", "v1", now, now, {"v1": PolicyVersion("v1", doc, now)})
    await svc.iam.store.create_policy(mp)
    out = svc.policy_out(mp)
    out["AttachmentCount"] = 0
    return {"Policy": out}


@op("GetPolicy")
async def get_policy(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    _check_policy_arn(req.params["PolicyArn"])
    return {"Policy": svc.policy_out(svc.managed(req.params["PolicyArn"]))}


@op("ListPolicies")
async def list_policies(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    p = req.params
    scope = p.get("Scope") or "All"
    pols: list[ManagedPolicy] = []
    if scope in ("All", "AWS"):
        pols += list(svc.iam.builtin.values())
    if scope in ("All", "Local"):
        pols += list(svc.iam.state.policies.values())
    prefix = p.get("PathPrefix") or "/"
    pols = [x for x in pols if x.path.startswith(prefix)]
    if p.get("OnlyAttached"):
        pols = [x for x in pols if svc.iam.state.attachment_count(x.arn)]
    page, extra = _page(pols, p, lambda x: x.arn)
    return {"Policies": [svc.policy_out(x) for x in page], **extra}


@op("DeletePolicy")
async def delete_policy(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    _check_policy_arn(req.params["PolicyArn"])
    await svc.iam.store.delete_policy(req.params["PolicyArn"])
    return {}


@op("CreatePolicyVersion")
async def create_policy_version(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    arn = req.params["PolicyArn"]
    _check_policy_arn(arn)
    doc = check_document(req.params["PolicyDocument"], IDENTITY, MAX_MANAGED_CHARS)
    now = now_us()
    vid = await svc.iam.store.add_policy_version(arn, doc, bool(req.params.get("SetAsDefault")), now)
    return {"PolicyVersion": {"VersionId": vid, "IsDefaultVersion": bool(req.params.get("SetAsDefault")),
                              "CreateDate": now}}


@op("GetPolicyVersion")
async def get_policy_version(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    mp = svc.managed(req.params["PolicyArn"])
    v = mp.versions.get(req.params["VersionId"])
    if v is None:
        raise no_such_entity(f"Policy {mp.arn} version {req.params['VersionId']} does not exist or is not "
                             "attachable.")
    return {"PolicyVersion": {"Document": encoded(v.document), "VersionId": v.version_id,
                              "IsDefaultVersion": v.version_id == mp.default_version, "CreateDate": v.created_us}}


@op("ListPolicyVersions")
async def list_policy_versions(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    mp = svc.managed(req.params["PolicyArn"])
    vs = sorted(mp.versions.values(), key=lambda v: int(v.version_id[1:]), reverse=True)
    page, extra = _page(vs, req.params, lambda v: v.version_id)
    return {"Versions": [{"VersionId": v.version_id, "IsDefaultVersion": v.version_id == mp.default_version,
                          "CreateDate": v.created_us} for v in page], **extra}


@op("DeletePolicyVersion")
async def delete_policy_version(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    await svc.iam.store.delete_policy_version(req.params["PolicyArn"], req.params["VersionId"])
    return {}


@op("SetDefaultPolicyVersion")
async def set_default_policy_version(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    await svc.iam.store.set_default_version(req.params["PolicyArn"], req.params["VersionId"], now_us())
    return {}


@op("ListEntitiesForPolicy")
async def list_entities_for_policy(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    arn = req.params["PolicyArn"]
    svc.managed(arn)
    flt = req.params.get("EntityFilter")
    out: dict[str, list[dict[str, str]]] = {"PolicyUsers": [], "PolicyRoles": [], "PolicyGroups": []}
    for (kind, low), arns in svc.iam.state.attached.items():
        if arn not in arns:
            continue
        e = svc.iam.state.entity(kind, low)
        if e is None or (flt and flt.lower() != kind):
            continue
        noun = {USER: "User", ROLE: "Role", GROUP: "Group"}[kind]
        out[f"Policy{noun}s"].append({f"{noun}Name": e.name, f"{noun}Id": e.id})
    return {**out, "IsTruncated": False}


@op("ListAccountAliases")
async def list_account_aliases(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    return {"AccountAliases": [], "IsTruncated": False}


# ---- tags ---------------------------------------------------------------------------------------------------
MAX_TAGS = 50


def _tag_ops(kind: str, noun: str) -> None:
    param = _NAME_PARAM[kind]

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
        page, extra = _page(e.tags, req.params, lambda t: t["Key"])
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


# ---- simulation ---------------------------------------------------------------------------------------------
_DECISIONS = {"Allow": "allowed", "Deny": "explicitDeny", "ImplicitDeny": "implicitDeny"}


@op("SimulatePrincipalPolicy")
async def simulate_principal_policy(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    """Decisions for a user's or role's identity policies (plus optional extra policies and a resource policy)."""
    from ..auth.principal import Principal
    from .authority import RequestKeys
    from .evaluate import decide
    from .policy import RESOURCE
    p = req.params
    arn = p["PolicySourceArn"]
    kind = USER if ":user/" in arn else ROLE if ":role/" in arn else GROUP if ":group/" in arn else ""
    e = svc.iam.state.entity(kind, arn.rsplit("/", 1)[-1]) if kind else None
    if e is None or e.arn != arn:
        raise invalid_input(f"Invalid Entity Arn: {arn} does not clearly define entity type and name.")
    principal = Principal(svc.account_id, e.arn, "IAMUser" if kind == USER else "AssumedRole", "", e.id,
                          extra={"user_name": e.name} if kind == USER else
                          {"role_arn": e.arn, "role_name": e.name, "role_id": e.id})
    identity = list(svc.iam.identity_of(principal)[0]) if kind != GROUP else []
    if kind == GROUP:
        identity = [compile_policy(d, IDENTITY) for d in svc.iam._docs_of(GROUP, e.name)]
    for extra in p.get("PolicyInputList") or []:
        identity.append(compile_policy(check_document(extra, IDENTITY, MAX_MANAGED_CHARS), IDENTITY))
    resource_policy = None
    if p.get("ResourcePolicy"):
        try:
            resource_policy = compile_policy(p["ResourcePolicy"], RESOURCE)
        except PolicyError as err:
            raise malformed_policy(str(err)) from None
    values: dict[str, list[str]] = {}
    for entry in p.get("ContextEntries") or []:
        values[entry["ContextKeyName"].lower()] = list(entry.get("ContextKeyValues") or [])
    keys = RequestKeys(principal, values)
    results = []
    for action in p["ActionNames"]:
        for resource in p.get("ResourceArns") or ["*"]:
            d = decide(principal, action, resource, keys, identity, resource_policy)
            results.append({"EvalActionName": action, "EvalResourceName": resource, "EvalDecision": _DECISIONS[d],
                            "MatchedStatements": [], "MissingContextValues": []})
    page, extra_out = _page(results, p, lambda r: f"{r['EvalActionName']}\x00{r['EvalResourceName']}")
    return {"EvaluationResults": page, **extra_out}
