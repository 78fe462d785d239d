"""The two seams replication needs from IAM, injected by the composition root (region.py).

`RoleSessions`: the configuration's role ARN -> temporary credentials the workers sign with (AWS: S3 assumes the
role through its service principal). `Permissions`: whether a role session may do an S3 action on a resource,
and whether the caller of PutBucketReplication may pass the role (iam:PassRole).

Today (no IAM on this branch) `RootRoleSessions` answers with the account root's credential and `AllowAll`
allows everything. The integrator swaps in `iam.service_session(role_arn, service="s3.amazonaws.com")` and IAM
policy evaluation: a role that cannot be assumed, or lacks a permission, then ends in FAILED with AWS's failure
reason (AssumeRoleNotPermitted, SrcGetObjectNotPermitted, DstPutObjectNotPermitted, ...).
"""

from __future__ import annotations

from typing import Callable, Protocol

from ..auth.principal import Credential, Principal


class RoleSessionError(Exception):
    """The role cannot be assumed by the S3 service (missing role, trust policy without s3.amazonaws.com)."""


class RoleSessions(Protocol):
    def credential(self, role_arn: str) -> Credential: ...


class Permissions(Protocol):
    def allowed(self, credential: Credential, action: str, resource: str) -> bool: ...
    def can_pass_role(self, principal: Principal, role_arn: str) -> bool: ...
    def principal_allowed(self, principal: Principal, action: str, resource: str) -> bool: ...


class RootRoleSessions:
    """Until IAM lands: a role of this account is served by the account root's credential (swap for
    iam.service_session); a role of any other account cannot be assumed here."""

    def __init__(self, root: Callable[[], Credential]) -> None:
        self._root = root

    def credential(self, role_arn: str) -> Credential:
        cred = self._root()
        parts = role_arn.split(":")
        if len(parts) < 6 or parts[4] != cred.principal.account_id:
            raise RoleSessionError(f"role {role_arn} cannot be assumed by s3.amazonaws.com in this deployment")
        return cred


class AllowAll:
    """Until IAM lands: no policy denies anything (swap for IAM evaluation)."""

    def allowed(self, credential: Credential, action: str, resource: str) -> bool:
        return True

    def can_pass_role(self, principal: Principal, role_arn: str) -> bool:
        return True

    def principal_allowed(self, principal: Principal, action: str, resource: str) -> bool:
        """Replication writes arriving at this region (batches): the account root only, until IAM lands."""
        return principal.is_root
