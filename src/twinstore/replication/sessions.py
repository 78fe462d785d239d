"""The two seams replication needs from IAM, wired by the composition root (region.py) to iam/.

`RoleSessions`: the configuration's role ARN -> temporary credentials the workers sign with, obtained as S3's
service principal (`Iam.service_session(role_arn, service="s3.amazonaws.com")`: the role's trust policy must
allow s3.amazonaws.com). `Permissions`: whether a role session may do an S3 action on a resource at the source
(s3:GetObjectVersionForReplication, s3:GetObjectVersionTagging), and whether a principal sending a batch of
replicas may write each of them here (`decide_on_bucket`: s3:ReplicateObject / s3:ReplicateDelete against the
identity policies AND the destination bucket's policy, as the edge decides a single replication request).
Failures end in FAILED with AWS's reason (AssumeRoleNotPermitted, SrcGetObjectNotPermitted,
DstPutObjectNotPermitted, ...).
"""

from __future__ import annotations

import time
from typing import Awaitable, Callable, Protocol

from ..auth.principal import Credential, Principal
from ..iam.authority import Iam, RequestKeys
from ..iam.evaluate import ALLOW
from ..meta.model import Bucket
from ..s3 import actions

SESSION_CACHE_S = 60.0  # a role session is reused this long (its policies are still evaluated per request)
# the session name audit records show (assumed-role/<role>/s3-replication); AWS does not document S3's
SESSION_NAME = "s3-replication"


class RoleSessionError(Exception):
    """The role cannot be assumed by the S3 service (missing role, trust policy without s3.amazonaws.com)."""


class RoleSessions(Protocol):
    async def credential(self, role_arn: str) -> Credential: ...
    def forget(self) -> None: ...


class Permissions(Protocol):
    async def refresh(self) -> None: ...
    def allowed(self, credential: Credential, action: str, resource: str) -> bool: ...
    def principal_allowed(self, principal: Principal, action: str, resource: str) -> bool: ...
    def decide_on_bucket(self, principal: Principal, action: str, bucket: Bucket, key: str | None,
                         keys: RequestKeys) -> str: ...


class ServiceRoleSessions:
    """Role sessions from IAM's service-principal path, cached briefly per role."""

    def __init__(self, service_session: Callable[..., Awaitable[Credential]]) -> None:
        """`service_session(role_arn, session_name=...)`: IAM's service-principal path."""
        self._mint = service_session
        self._cache: dict[str, tuple[float, Credential]] = {}

    async def credential(self, role_arn: str) -> Credential:
        hit = self._cache.get(role_arn)
        if hit is not None and time.monotonic() - hit[0] < SESSION_CACHE_S:
            return hit[1]
        try:
            cred = await self._mint(role_arn, session_name=SESSION_NAME)
        except Exception as exc:  # noqa: BLE001 - whatever IAM says, the role cannot be used
            self._cache.pop(role_arn, None)
            raise RoleSessionError(str(exc)) from None
        self._cache[role_arn] = (time.monotonic(), cred)
        return cred

    def forget(self) -> None:
        """Drops cached sessions (a destination refused one): the next request mints a new session."""
        self._cache.clear()


class IamPermissions:
    """IAM evaluation of the role session's (or the sender's) identity policies."""

    def __init__(self, iam: Iam) -> None:
        self.iam = iam

    async def refresh(self) -> None:
        """Picks up IAM changes any process committed (call before a series of decisions)."""
        await self.iam.refresh()

    def principal_allowed(self, principal: Principal, action: str, resource: str) -> bool:
        return self.iam.decide(principal, action, resource, RequestKeys(principal)) == ALLOW

    def allowed(self, credential: Credential, action: str, resource: str) -> bool:
        return self.principal_allowed(credential.principal, action, resource)

    def decide_on_bucket(self, principal: Principal, action: str, bucket: Bucket, key: str | None,
                         keys: RequestKeys) -> str:
        """Allow / Deny / ImplicitDeny of `action` on the bucket or one of its objects: identity policies and the
        bucket policy (an explicit Deny there wins), with the request's condition keys."""
        return actions.decide_on_bucket(self.iam, principal, action, bucket, key, keys)
