"""Authorization of every request against IAM: identity policies, bucket policies, Block Public Access.

S3: each operation's actions and resources come from s3/actions.py; the bucket policy is the one stored on the
bucket (compiled once per document text). Other services: `<signing name>:<Operation>` on the resource the
service names (`resource_arn(req)`), unless the service decides itself (`self_authorized`, e.g. AssumeRole).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ..auth.principal import Principal
from ..auth.request import ApiRequest, ApiService
from ..iam.authority import Iam, RequestKeys, key_values
from ..iam.evaluate import ALLOW, DENY
from ..iam.policy import Policy, is_public
from ..protocol.errors import AWSError
from ..s3 import actions
from ..s3.service import S3Service

_POLICY_OPS = frozenset({"GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy"})
_MISSING_KEY_OPS = frozenset({"GetObject", "HeadObject", "GetObjectAttributes", "GetObjectTagging",
                              "GetObjectAcl"})


def denied(principal: Principal, action: str, resource: str, decision: str) -> AWSError:
    if principal.type == "Anonymous":
        return AWSError("AccessDenied")
    why = ("with an explicit deny in a resource-based policy" if decision == DENY
           else f"because no identity-based policy allows the {action} action")
    return AWSError("AccessDenied", f"User: {principal.arn} is not authorized to perform: {action} on resource: "
                                    f"\"{resource}\" {why}")


class Authorizer:
    def __init__(self, iam: Iam, s3: S3Service) -> None:
        self.iam = iam
        self.s3 = s3

    def bucket_policy(self, bucket: str | None, principal: Principal) -> tuple[Policy | None, dict[str, str] | None]:
        """The bucket's policy (compiled, cached by text) and the principal ids it was bound to when saved."""
        if not bucket:
            return None, None
        b = self.s3.store.cached_bucket(bucket)
        if b is None:
            return None, None
        policy, bound = actions.bucket_policy_of(b)
        if policy is None:
            return None, None
        if principal.type == "Anonymous" and (b.configs.get("publicAccessBlock") or {}).get("RestrictPublicBuckets") \
                and is_public(policy):
            return None, None  # RestrictPublicBuckets: public grants serve only the owner account and AWS services
        return policy, bound

    async def s3_request(self, principal: Principal, operation: str, bucket: str | None, key: str | None,
                         params: Mapping[str, Any], headers: Mapping[str, str], query: Mapping[str, str],
                         payload: Any, source_ip: str, secure: bool, presigned: bool
                         ) -> Callable[[str, str], None] | None:
        """Raises AccessDenied unless every action the request needs is allowed; returns the per-resource check
        handlers use for further resources (DeleteObjects' keys)."""
        policy, bound = self.bucket_policy(bucket, principal)
        if principal.is_root and (policy is None or operation in _POLICY_OPS):
            return None  # the account root: everything (bucket-policy denies aside; never locked out of the policy)
        keys = actions.S3Keys(principal, headers, query, source_ip, secure, self.s3.region, self.s3.account_id,
                              presigned, payload)
        for action, resource in actions.checks(operation, bucket, key, params, headers):
            pol, pol_bound = policy, bound
            if not resource.startswith(f"arn:aws:s3:::{bucket}/") and resource != f"arn:aws:s3:::{bucket}":
                pol, pol_bound = self.bucket_policy(resource[len("arn:aws:s3:::"):].partition("/")[0], principal) \
                    if resource.startswith("arn:aws:s3:::") else (None, None)
            d = self.iam.decide(principal, action, resource, keys, pol, pol_bound)
            if d != ALLOW:
                if bucket and operation not in ("CreateBucket", "ListBuckets") \
                        and self.s3.store.cached_bucket(bucket) is None:
                    await self.s3.bucket(bucket)  # NoSuchBucket / PermanentRedirect come first
                raise denied(principal, action, resource, d)
        role = actions.pass_role_arn(operation, payload)
        if role is not None:
            self.iam.pass_role(principal, role, "s3.amazonaws.com", source_ip)

        def check(action: str, resource: str) -> None:
            d = self.iam.decide(principal, action, resource, keys, policy, bound)
            if d != ALLOW:
                raise denied(principal, action, resource, d)
        return check

    def missing_key(self, principal: Principal, operation: str, bucket: str | None, err: AWSError,
                    headers: Mapping[str, str], query: Mapping[str, str], source_ip: str, secure: bool) -> AWSError:
        """A missing key is 404 only to callers allowed s3:ListBucket; others get 403 (nothing leaks)."""
        if err.code != "NoSuchKey" or operation not in _MISSING_KEY_OPS or not bucket or principal.is_root:
            return err
        keys = actions.S3Keys(principal, headers, query, source_ip, secure, self.s3.region, self.s3.account_id)
        arn = actions.bucket_arn(bucket)
        if self.iam.decide(principal, "s3:ListBucket", arn, keys, *self.bucket_policy(bucket, principal)) == ALLOW:
            return err
        return denied(principal, "s3:ListBucket", arn, "")

    def api(self, principal: Principal, action: str, req: ApiRequest, impl: ApiService | None) -> None:
        if impl is not None and req.operation in getattr(impl, "self_authorized", ()):
            return
        if principal.is_root:
            return
        resource_of = getattr(impl, "resource_arn", None)
        resource = resource_of(req) if resource_of is not None else "*"
        keys = RequestKeys(principal, key_values(**{"aws:SourceIp": req.source_ip,
                                                    "aws:RequestedRegion": req.region,
                                                    "aws:UserAgent": req.user_agent}))
        d = self.iam.decide(principal, action, resource, keys)
        if d != ALLOW:
            why = "with an explicit deny in an identity-based policy" if d == DENY else \
                f"because no identity-based policy allows the {action} action"
            raise AWSError("AccessDenied", f"User: {principal.arn} is not authorized to perform: {action} on "
                                           f"resource: {resource} {why}", status=403)
