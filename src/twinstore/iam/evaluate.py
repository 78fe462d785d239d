"""The decision for one request, as AWS evaluates within a single account:

explicit Deny anywhere -> Deny; else an Allow from the identity policies (inline + managed + groups, and the
session policy if one was passed) or from a resource policy statement naming this principal -> Allow; else
implicit deny. A resource policy naming the principal's *account* only delegates: the identity side must allow.
The account root is not limited by identity policies, but an explicit Deny in a resource policy binds it.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

from ..auth.principal import Principal
from .conditions import KeySource
from .policy import ACCOUNT_MATCH, DIRECT_MATCH, Policy, substituter

ALLOW, DENY, IMPLICIT_DENY = "Allow", "Deny", "ImplicitDeny"


def _scan(policies: Sequence[Policy], action: str, resource: str, keys: KeySource,
          subst: Callable[[str], str]) -> int:
    """-1: an explicit Deny applies; 1: an Allow applies (and no Deny); 0: neither."""
    allowed = 0
    for pol in policies:
        for st in pol.statements:
            if (st.allow and allowed) or not st.applies(action, resource, keys, subst):
                continue
            if not st.allow:
                return -1
            allowed = 1
    return allowed


def decide(principal: Principal, action: str, resource: str, keys: KeySource, identity: Sequence[Policy],
           resource_policy: Policy | None = None, session_policy: Policy | None = None,
           boundary: Policy | None = None, bound: Mapping[str, str] | None = None) -> str:
    """`session_policy` (passed to AssumeRole) and `boundary` (the permissions boundary) limit what the identity
    policies allow, and what a resource policy grants through the role ARN; a resource policy naming the user
    or the session itself is not limited by them."""
    subst = substituter(keys)
    action = action.lower()
    verdict = _scan(identity, action, resource, keys, subst)
    if verdict < 0:
        return DENY
    limits_allow = True
    for limit in (session_policy, boundary):
        if limit is not None:
            v = _scan((limit,), action, resource, keys, subst)
            if v < 0:
                return DENY
            limits_allow = limits_allow and v > 0
    identity_allow = verdict > 0 and limits_allow
    resource_allow = False
    if resource_policy is not None:
        for st in resource_policy.statements:
            if st.allow and resource_allow:
                continue
            m = st.principal_match(principal, bound)
            if not m or not st.applies(action, resource, keys, subst):
                continue
            if not st.allow:
                return DENY
            if m == DIRECT_MATCH:
                spec = st.principal
                named = spec is None or st.not_principal or spec.anyone or principal.arn in spec.aws
                resource_allow = named or limits_allow
            elif m == ACCOUNT_MATCH and identity_allow:
                resource_allow = True
    if principal.is_root or identity_allow or resource_allow:
        return ALLOW
    return IMPLICIT_DENY
