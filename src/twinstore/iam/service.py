"""The IAM query API (global: every region serves the same state from the deployment's iam.db): the service
object, shared helpers and output shapes. The operations live in api_identities.py and api_policies.py."""

from __future__ import annotations

import base64
from typing import Any, Awaitable, Callable
from urllib.parse import quote

from ..auth.request import ApiRequest
from ..protocol.errors import AWSError
from .authority import Iam
from .conditions import PolicyError
from .errors import invalid_input, limit_exceeded, malformed_policy, no_such_entity
from .model import GROUP, ROLE, USER, Entity, ManagedPolicy
from .policy import TRUST, compile_policy
from .sqlite_store import missing
from .validate import check_input

MAX_MANAGED_CHARS = 6144
MAX_TRUST_CHARS = 2048
MAX_INLINE = {USER: 2048, ROLE: 10240, GROUP: 5120}
NAME_PARAM = {USER: "UserName", ROLE: "RoleName", GROUP: "GroupName"}

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


def trust_principal_ids(svc: "IamService", doc: str) -> dict[str, str]:
    """A trust policy may only name users and roles that exist; it stays bound to their unique ids."""
    try:
        return svc.iam.principal_ids(compile_policy(doc, TRUST))
    except PolicyError as e:
        raise malformed_policy(str(e)) from None


def path_of(params: dict[str, Any]) -> str:
    return params.get("Path") or "/"


def paginate(items: list[Any], params: dict[str, Any], marker_of: Callable[[Any], str] | None = None
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
        if req.operation == "CreatePolicy":
            return f"arn:aws:iam::{self.account_id}:policy{path_of(p)}{p.get('PolicyName', '')}"
        if req.operation in ("AddUserToGroup", "RemoveUserFromGroup"):
            p = {"GroupName": p.get("GroupName", "")}
        for kind, param in (("role", "RoleName"), ("group", "GroupName"), ("user", "UserName")):
            if param in p:  # attach/detach act on the entity, not on the policy
                e = self.iam.state.entity(kind, p[param])
                return e.arn if e else f"arn:aws:iam::{self.account_id}:{kind}{path_of(p)}{p[param]}"
        if "PolicyArn" in p:
            return str(p["PolicyArn"])
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
                "PermissionsBoundaryUsageCount": sum(1 for e in self.iam.state.entities.values()
                                                     if e.boundary == p.arn),
                "IsAttachable": True, "Description": p.description or None,
                "CreateDate": p.created_us, "UpdateDate": p.updated_us}


def _boundary_out(e: Entity, out: dict[str, Any]) -> dict[str, Any]:
    if e.boundary:
        out["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": e.boundary}
    return out


def user_out(e: Entity) -> dict[str, Any]:
    out: dict[str, Any] = {"Path": e.path, "UserName": e.name, "UserId": e.id, "Arn": e.arn, "CreateDate": e.created_us}
    if e.tags:
        out["Tags"] = e.tags
    return _boundary_out(e, out)


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
    return _boundary_out(e, out)


def group_out(e: Entity) -> dict[str, Any]:
    return {"Path": e.path, "GroupName": e.name, "GroupId": e.id, "Arn": e.arn, "CreateDate": e.created_us}


def check_policy_arn(arn: str) -> None:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam" or not parts[5].startswith("policy/"):
        raise invalid_input(f"ARN {arn} is not valid.")


def boundary_param(svc: IamService, p: dict[str, Any]) -> str:
    arn = p.get("PermissionsBoundary") or ""
    if arn:
        check_policy_arn(arn)
        if arn.startswith("arn:aws:iam::aws:policy/") and arn not in svc.iam.builtin:
            raise no_such_entity(f"Scope ARN: {arn} does not exist or is not attachable.")
    return arn


from . import api_identities, api_policies  # noqa: E402,F401  (register the operations)
