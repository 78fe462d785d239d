"""STS: GetCallerIdentity and AssumeRole (trust policy evaluated; self-authenticating session tokens)."""

from __future__ import annotations

from typing import Any

from ..auth.request import ApiRequest
from ..protocol.errors import AWSError
from .authority import Iam, RequestKeys, key_values
from .conditions import PolicyError
from .errors import access_denied, malformed_policy, validation
from .evaluate import ALLOW, decide
from .policy import IDENTITY, TRUST, compile_policy
from .validate import check_input

MIN_DURATION = 900
CHAINED_MAX = 3600
MAX_SESSION_POLICY = 2048


class StsService:
    service = "sts"
    self_authorized = frozenset({"GetCallerIdentity", "AssumeRole"})  # trust policy / never denied

    def __init__(self, iam: Iam) -> None:
        self.iam = iam

    async def call(self, req: ApiRequest) -> dict[str, Any]:
        if req.operation == "GetCallerIdentity":
            return self.caller_identity(req)
        if req.operation == "AssumeRole":
            check_input("sts", req.operation, req.params)
            await self.iam.refresh()
            return self.assume_role(req)
        raise AWSError("InvalidAction", f"twinstore does not implement STS {req.operation} yet", status=400)

    def caller_identity(self, req: ApiRequest) -> dict[str, Any]:
        p = req.principal
        return {"UserId": p.principal_id or p.account_id, "Account": p.account_id, "Arn": p.arn}

    def assume_role(self, req: ApiRequest) -> dict[str, Any]:
        p = req.principal
        params = req.params
        role_arn = params["RoleArn"]
        if p.is_root:
            raise AWSError("AccessDenied", "Roles may not be assumed by root accounts.", status=403)
        role = self.iam.role_by_arn(role_arn)
        if role is None:
            raise access_denied(p.arn, "sts:AssumeRole", role_arn, "")
        keys = RequestKeys(p, key_values(**{"aws:SourceIp": req.source_ip, "sts:RoleSessionName":
                                            params["RoleSessionName"], "sts:ExternalId": params.get("ExternalId"),
                                            "aws:RequestedRegion": req.region}))
        identity, session_policy, boundary = self.iam.identity_of(p)
        trust = compile_policy(role.trust, TRUST)
        if decide(p, "sts:AssumeRole", role_arn, keys, identity, trust, session_policy, boundary,
                  role.trust_ids) != ALLOW:
            raise access_denied(p.arn, "sts:AssumeRole", role_arn, "")
        duration = params.get("DurationSeconds", 3600)
        limit = CHAINED_MAX if p.type == "AssumedRole" else role.max_session
        if duration < MIN_DURATION:
            raise validation(f"1 validation error detected: Value '{duration}' at 'durationSeconds' failed to "
                             "satisfy constraint: Member must have value greater than or equal to 900")
        if duration > limit:
            what = ("1 hour session limit for roles assumed by role chaining" if p.type == "AssumedRole"
                    else "MaxSessionDuration set for this role")
            raise validation(f"The requested DurationSeconds exceeds the {what}.")
        policy = params.get("Policy") or ""
        if policy:
            if len("".join(policy.split())) > MAX_SESSION_POLICY:
                raise AWSError("PackedPolicyTooLarge", "Packed policy consumes more than 100 percent of the allotted "
                                                       "space.", status=400)
            try:
                compile_policy(policy, IDENTITY)
            except PolicyError as e:
                raise malformed_policy(str(e)) from None
        session, cred = self.iam.new_session(role, params["RoleSessionName"], duration, policy)
        out: dict[str, Any] = {
            "Credentials": {"AccessKeyId": cred.access_key_id, "SecretAccessKey": cred.secret_access_key,
                            "SessionToken": cred.session_token, "Expiration": session.expires_us},
            "AssumedRoleUser": {"AssumedRoleId": cred.principal.principal_id, "Arn": cred.principal.arn}}
        if policy:
            out["PackedPolicySize"] = min(100, len(policy) * 100 // MAX_SESSION_POLICY)
        return out
