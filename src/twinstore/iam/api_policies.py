"""IAM operations on policies: inline, managed (versions, attachments), permissions boundaries, simulation."""

from __future__ import annotations

from typing import Any

from ..auth.principal import Principal
from ..auth.request import ApiRequest
from ..protocol.timefmt import now_us
from .authority import RequestKeys
from .conditions import PolicyError
from .errors import invalid_input, malformed_policy, no_such_entity
from .evaluate import decide
from .model import GROUP, ROLE, USER, ManagedPolicy, PolicyVersion, new_id
from .policy import IDENTITY, RESOURCE, compile_policy
from .service import (MAX_INLINE, MAX_MANAGED_CHARS, NAME_PARAM, OPS, IamService, boundary_param, check_document,
                      check_policy_arn, encoded, group_out, op, paginate, path_of, role_out, user_out)


# ---- inline policies ----------------------------------------------------------------------------------------
def _inline_ops(kind: str, noun: str) -> None:
    param = NAME_PARAM[kind]

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
        page, extra = paginate(names, req.params, lambda n: n)
        return {"PolicyNames": page, **extra}

    async def delete(svc: IamService, req: ApiRequest) -> dict[str, Any]:
        await svc.iam.store.delete_inline(kind, req.params[param], req.params["PolicyName"])
        return {}

    async def attach(svc: IamService, req: ApiRequest) -> dict[str, Any]:
        arn = req.params["PolicyArn"]
        check_policy_arn(arn)
        await svc.iam.store.attach(kind, req.params[param], arn, arn in svc.iam.builtin)
        return {}

    async def detach(svc: IamService, req: ApiRequest) -> dict[str, Any]:
        arn = req.params["PolicyArn"]
        check_policy_arn(arn)
        await svc.iam.store.detach(kind, req.params[param], arn)
        return {}

    async def list_attached(svc: IamService, req: ApiRequest) -> dict[str, Any]:
        e = svc.entity(kind, req.params[param])
        prefix = req.params.get("PathPrefix") or "/"
        pols = [svc.iam.policy(a) for a in svc.iam.state.attached.get((kind, e.name.lower()), [])]
        pols = [p for p in pols if p is not None and p.path.startswith(prefix)]
        page, extra = paginate(pols, req.params, lambda p: p.name)
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


# ---- managed policies ---------------------------------------------------------------------------------------
@op("CreatePolicy")
async def create_policy(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    p = req.params
    doc = check_document(p["PolicyDocument"], IDENTITY, MAX_MANAGED_CHARS)
    path = path_of(p)
    now = now_us()
    mp = ManagedPolicy(svc.arn("policy", path, p["PolicyName"]), p["PolicyName"], new_id("policy"), path,
                       p.get("Description") or "", "v1", now, now, {"v1": PolicyVersion("v1", doc, now)})
    await svc.iam.store.create_policy(mp)
    out = svc.policy_out(mp)
    out["AttachmentCount"] = 0
    return {"Policy": out}


@op("GetPolicy")
async def get_policy(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    check_policy_arn(req.params["PolicyArn"])
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
    page, extra = paginate(pols, p, lambda x: x.arn)
    return {"Policies": [svc.policy_out(x) for x in page], **extra}


@op("DeletePolicy")
async def delete_policy(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    check_policy_arn(req.params["PolicyArn"])
    await svc.iam.store.delete_policy(req.params["PolicyArn"])
    return {}


@op("CreatePolicyVersion")
async def create_policy_version(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    arn = req.params["PolicyArn"]
    check_policy_arn(arn)
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
    page, extra = paginate(vs, req.params, lambda v: v.version_id)
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


# ---- permissions boundaries ----------------------------------------------------------------------------------
def _boundary_ops(kind: str, noun: str) -> None:
    param = NAME_PARAM[kind]

    async def put(svc: IamService, req: ApiRequest) -> dict[str, Any]:
        e = svc.entity(kind, req.params[param])
        e.boundary = boundary_param(svc, req.params)
        await svc.iam.store.update_entity(e)
        return {}

    async def delete(svc: IamService, req: ApiRequest) -> dict[str, Any]:
        e = svc.entity(kind, req.params[param])
        e.boundary = ""
        await svc.iam.store.update_entity(e)
        return {}

    OPS[f"Put{noun}PermissionsBoundary"] = put
    OPS[f"Delete{noun}PermissionsBoundary"] = delete


_boundary_ops(USER, "User")
_boundary_ops(ROLE, "Role")


# ---- simulation ---------------------------------------------------------------------------------------------
_DECISIONS = {"Allow": "allowed", "Deny": "explicitDeny", "ImplicitDeny": "implicitDeny"}


@op("SimulatePrincipalPolicy")
async def simulate_principal_policy(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    """Decisions for a user's or role's identity policies (plus optional extra policies and a resource policy)."""
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
    boundary = svc.iam.identity_of(principal)[2] if kind != GROUP else None
    if kind == GROUP:
        identity = [compile_policy(d, IDENTITY) for d in svc.iam.docs_of(GROUP, e.name)]
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
            d = decide(principal, action, resource, keys, identity, resource_policy, None, boundary)
            results.append({"EvalActionName": action, "EvalResourceName": resource, "EvalDecision": _DECISIONS[d],
                            "MatchedStatements": [], "MissingContextValues": []})
    page, extra_out = paginate(results, p, lambda r: f"{r['EvalActionName']}\x00{r['EvalResourceName']}")
    return {"EvaluationResults": page, **extra_out}


# ---- account authorization details --------------------------------------------------------------------------
@op("GetAccountAuthorizationDetails")
async def get_account_authorization_details(svc: IamService, req: ApiRequest) -> dict[str, Any]:
    """Every user, group, role and policy with their documents (URL-encoded), filtered by entity type."""
    st = svc.iam.state
    wanted = set(req.params.get("Filter") or ["User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"])

    def inline(kind: str, name: str) -> list[dict[str, str]]:
        return [{"PolicyName": n, "PolicyDocument": encoded(d)} for n, d in st.inline.get((kind, name.lower()),
                                                                                            {}).items()]

    def attached(kind: str, name: str) -> list[dict[str, str]]:
        pols = [svc.iam.policy(a) for a in st.attached.get((kind, name.lower()), [])]
        return [{"PolicyName": p.name, "PolicyArn": p.arn} for p in pols if p is not None]

    out: dict[str, Any] = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}
    for (kind, _), e in st.entities.items():
        if kind == USER and "User" in wanted:
            out["UserDetailList"].append({**user_out(e), "UserPolicyList": inline(USER, e.name),
                                          "GroupList": [g.name for g in (st.entity(GROUP, n) for n in
                                                                         st.groups_of(e.name)) if g],
                                          "AttachedManagedPolicies": attached(USER, e.name)})
        elif kind == GROUP and "Group" in wanted:
            out["GroupDetailList"].append({**group_out(e), "GroupPolicyList": inline(GROUP, e.name),
                                           "AttachedManagedPolicies": attached(GROUP, e.name)})
        elif kind == ROLE and "Role" in wanted:
            out["RoleDetailList"].append({**role_out(e), "InstanceProfileList": [],
                                          "RolePolicyList": inline(ROLE, e.name),
                                          "AttachedManagedPolicies": attached(ROLE, e.name)})
    pols = (list(st.policies.values()) if "LocalManagedPolicy" in wanted else []) + \
        ([p for p in svc.iam.builtin.values() if st.attachment_count(p.arn)] if "AWSManagedPolicy" in wanted else [])
    for p in pols:
        out["Policies"].append({**svc.policy_out(p), "PolicyVersionList": [
            {"Document": encoded(v.document), "VersionId": v.version_id,
             "IsDefaultVersion": v.version_id == p.default_version, "CreateDate": v.created_us}
            for v in p.versions.values()]})
    return {**out, "IsTruncated": False}
