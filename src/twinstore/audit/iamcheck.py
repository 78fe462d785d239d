"""The IAM layer's evaluation for what CloudTrail and S3 logging do on their own: writing into a bucket whose
policy must allow the service principal, and assuming a trail's CloudWatch Logs role."""

from __future__ import annotations

from typing import Awaitable, Callable

from ..auth.principal import Principal
from ..iam.authority import Iam, RequestKeys, key_values
from ..iam.conditions import PolicyError
from ..iam.evaluate import ALLOW
from ..iam.policy import RESOURCE, compile_policy
from ..protocol.errors import AWSError
from .policy import Checker


def iam_checker(iam: Iam) -> Checker:
    def check(policy: str | None, service: str, action: str, resource: str, context: dict[str, str]) -> bool:
        if not policy:
            return False
        try:
            compiled = compile_policy(policy, RESOURCE)
        except PolicyError:
            return False
        p = Principal("", service, "AWSService")
        return iam.decide(p, action, resource, RequestKeys(p, key_values(**context)), compiled) == ALLOW
    return check


def iam_role_check(iam: Iam, region: str, account: str) -> Callable[[str, str], Awaitable[bool]]:
    """May CloudTrail assume `role_arn` (trust policy) and, as that session, create streams and put events in
    the log group (`arn:aws:logs:<region>:<acct>:log-group:<name>:*`)?"""
    async def check(role_arn: str, group_arn: str) -> bool:
        try:
            cred = await iam.service_session(role_arn, "cloudtrail.amazonaws.com", duration_s=900)
        except AWSError:
            return False
        group = group_arn[:-2] if group_arn.endswith(":*") else group_arn
        stream = f"{group}:log-stream:{account}_CloudTrail_{region}"
        p = cred.principal
        keys = RequestKeys(p)
        return all(iam.decide(p, action, stream, keys) == ALLOW
                   for action in ("logs:CreateLogStream", "logs:PutLogEvents"))
    return check
