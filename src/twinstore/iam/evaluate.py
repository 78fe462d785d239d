"""The decision for one request, as AWS evaluates within a single account:

explicit Deny anywhere -> Deny; else an Allow from the identity policies (inline + managed + groups, and the
session policy if one was passed) or from a resource policy statement naming this principal -> Allow; else
implicit deny. A resource policy naming the principal's *account* only delegates: the identity side must allow.
The account root is not limited by identity policies, but an explicit Deny in a resource policy binds it.
"""

from __future__ import annotations

from typing import Sequence

from ..auth.principal import Principal
from .conditions import KeySource
from .policy import ACCOUNT_MATCH, DIRECT_MATCH, Policy, substituter

ALLOW, DENY, IMPLICIT_DENY = "Allow", "Deny", "ImplicitDeny"


def decide(principal: Principal, action: str, resource: str, keys: KeySource, identity: Sequence[Policy],
           resource_policy: Policy | None = None, session_policy: Policy | None = None) -> str:
    subst = substituter(keys)
    action = action.lower()
    identity_allow = False
    for pol in identity:
        for st in pol.statements:
            if (st.allow and identity_allow) or not st.applies(action, resource, keys, subst):
                continue
            if not st.allow:
                return DENY
            identity_allow = True
    if session_policy is not None and identity_allow:
        identity_allow = False
        for st in session_policy.statements:
            if st.applies(action, resource, keys, subst):
                if not st.allow:
                    return DENY
                identity_allow = True
    resource_allow = False
    if resource_policy is not None:
        for st in resource_policy.statements:
            if st.allow and resource_allow:
                continue
            m = st.principal_match(principal)
            if not m or not st.applies(action, resource, keys, subst):
                continue
            if not st.allow:
                return DENY
            if m == DIRECT_MATCH or (m == ACCOUNT_MATCH and identity_allow):
                resource_allow = True
    if principal.is_root or identity_allow or resource_allow:
        return ALLOW
    return IMPLICIT_DENY
