"""Policy documents: grammar checks (MalformedPolicyDocument reasons) and compilation to matchers.

A compiled `Policy` is immutable and cached by document text, so evaluating a request costs set lookups and a
few precompiled pattern matches; nothing is parsed on the request path.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..auth.principal import Principal
from .conditions import KeySource, PolicyError, Test, compile_condition
from .globs import glob

IDENTITY = "identity"  # user/role/group policies: no Principal, Resource required
RESOURCE = "resource"  # bucket (and other resource) policies: Principal and Resource required
TRUST = "trust"  # role trust policies: Principal required, no Resource, sts actions only

VERSIONS = ("2012-10-17", "2008-10-17")
_TOP_KEYS = {"Version", "Id", "Statement"}
_STMT_KEYS = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource",
              "Condition"}
_VAR = re.compile(r"\$\{([^}]*)\}")
_ACCOUNT = re.compile(r"^\d{12}$")
_TRUST_ACTIONS = ("sts:assumerole", "sts:tagsession", "sts:setsourceidentity", "sts:assumerolewithwebidentity",
                  "sts:assumerolewithsaml", "sts:*", "*", "sts:assumerole*")
# Condition keys whose presence makes a Principal "*" grant non-public (S3 "Block Public Access" rules).
_RESTRICTING_KEYS = {"aws:sourceip", "aws:sourcearn", "aws:sourceaccount", "aws:sourcevpc", "aws:sourcevpce",
                     "aws:principalaccount", "aws:principalorgid", "aws:principalarn", "aws:userid",
                     "aws:principalorgpaths", "aws:sourceowner", "s3:dataaccesspointarn",
                     "s3:dataaccesspointaccount"}

NO_MATCH, ACCOUNT_MATCH, DIRECT_MATCH = 0, 1, 2


def _as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


class Names:
    """A compiled Action/Resource list: exact members in a set, wildcard members as predicates."""

    __slots__ = ("everything", "exact", "patterns", "variables", "ignore_case")

    def __init__(self, items: list[str], ignore_case: bool, variables: bool) -> None:
        self.ignore_case = ignore_case
        self.everything = "*" in items
        self.exact: frozenset[str] = frozenset(i.lower() if ignore_case else i for i in items
                                               if "*" not in i and "?" not in i and not (variables and "${" in i))
        self.patterns = [glob(i, ignore_case) for i in items
                         if ("*" in i or "?" in i) and i != "*" and not (variables and "${" in i)]
        self.variables = [i for i in items if variables and "${" in i]

    def match_lower(self, value: str) -> bool:
        """`match` for an already lower-cased value of a case-insensitive list (actions)."""
        if self.everything or value in self.exact:
            return True
        for p in self.patterns:
            if p(value):
                return True
        return False

    def match(self, value: str, subst: Callable[[str], str] | None = None) -> bool:
        if self.everything:
            return True
        if (value.lower() if self.ignore_case else value) in self.exact:
            return True
        for p in self.patterns:
            if p(value):
                return True
        if self.variables and subst is not None:
            for v in self.variables:
                if glob(subst(v), self.ignore_case)(value):
                    return True
        return False


@dataclass(frozen=True, slots=True)
class PrincipalSpec:
    anyone: bool
    aws: frozenset[str]  # ARNs; an account id is stored as its root ARN
    services: frozenset[str]
    others: frozenset[str]  # Federated / CanonicalUser values (never matched by our principals)

    def match(self, p: Principal, bound: Mapping[str, str] | None = None) -> int:
        """DIRECT_MATCH when the statement names this principal, ACCOUNT_MATCH when it names its account
        (a delegation: the principal's identity policy must allow too), else NO_MATCH. `bound`: user/role ARN
        -> the unique id it had when the policy was saved (a recreated user or role with the same name is
        another principal, as on AWS)."""
        if self.anyone:
            return DIRECT_MATCH
        if p.type == "AWSService":
            return DIRECT_MATCH if p.arn in self.services else NO_MATCH
        if p.type == "Anonymous" or not self.aws:
            return NO_MATCH
        if p.arn in self.aws and (not bound or bound.get(p.arn, p.principal_id) == p.principal_id):
            return DIRECT_MATCH
        role_arn = p.extra.get("role_arn") if p.extra else None
        if role_arn and role_arn in self.aws and (not bound or bound.get(role_arn, p.extra.get("role_id"))
                                                  == p.extra.get("role_id")):
            return DIRECT_MATCH
        if f"arn:aws:iam::{p.account_id}:root" in self.aws:
            return DIRECT_MATCH if p.is_root else ACCOUNT_MATCH
        return NO_MATCH


def _principal_spec(raw: Any) -> PrincipalSpec:
    if raw == "*":
        return PrincipalSpec(True, frozenset(), frozenset(), frozenset())
    if not isinstance(raw, dict) or not raw:
        raise PolicyError("Invalid principal in policy")
    aws: set[str] = set()
    services: set[str] = set()
    others: set[str] = set()
    anyone = False
    for kind, values in raw.items():
        vals = _as_list(values)
        if not vals or not all(isinstance(v, str) and v for v in vals):
            raise PolicyError("Invalid principal in policy")
        if kind == "AWS":
            for v in vals:
                if v == "*":
                    anyone = True
                elif _ACCOUNT.match(v):
                    aws.add(f"arn:aws:iam::{v}:root")
                elif (v.startswith("arn:aws:iam::") or v.startswith("arn:aws:sts::")) and len(v.split(":")) >= 6:
                    aws.add(v)
                else:
                    raise PolicyError(f'Invalid principal in policy: "AWS":"{v}"')
        elif kind == "Service":
            for v in vals:
                if "." not in v and v != "*":
                    raise PolicyError(f'Invalid principal in policy: "SERVICE":"{v}"')
                services.add(v.lower())
        elif kind in ("Federated", "CanonicalUser"):
            others.update(vals)
        else:
            raise PolicyError("Invalid principal in policy")
    return PrincipalSpec(anyone, frozenset(aws), frozenset(services), frozenset(others))


@dataclass(frozen=True, slots=True)
class Statement:
    sid: str
    allow: bool
    actions: Names
    not_action: bool
    resources: Names | None  # None: trust policy (the role itself)
    not_resource: bool
    principal: PrincipalSpec | None
    not_principal: bool
    conditions: tuple[Test, ...]
    raw_condition_keys: frozenset[str]

    def applies(self, action: str, resource: str, ks: KeySource, subst: Callable[[str], str]) -> bool:
        """Action (lower-case), resource and conditions match (the principal is checked by the caller)."""
        if self.actions.match_lower(action) == self.not_action:
            return False
        if self.resources is not None and self.resources.match(resource, subst) == self.not_resource:
            return False
        for t in self.conditions:
            if not t(ks, subst):
                return False
        return True

    def principal_match(self, p: Principal, bound: Mapping[str, str] | None = None) -> int:
        if self.principal is None:
            return DIRECT_MATCH
        m = self.principal.match(p, bound)
        if self.not_principal:
            return NO_MATCH if m else DIRECT_MATCH
        return m


@dataclass(frozen=True, slots=True)
class Policy:
    text: str
    version: str
    statements: tuple[Statement, ...]

    @property
    def doc(self) -> dict[str, Any]:
        return json.loads(self.text)


def _check_action(a: Any) -> str:
    if not isinstance(a, str) or not a:
        raise PolicyError("Syntax errors in policy.")
    if a == "*":
        return a
    vendor, colon, name = a.partition(":")
    if not colon or not vendor or not name:
        raise PolicyError("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")
    if "*" in vendor or "?" in vendor:
        raise PolicyError("Action vendors must not contain wildcards.")
    if not re.fullmatch(r"[A-Za-z0-9-]+", vendor):
        raise PolicyError(f"Vendor {vendor} is not valid")
    return a


def _check_resource(r: Any) -> str:
    if not isinstance(r, str) or not r:
        raise PolicyError("Syntax errors in policy.")
    if r != "*" and not (r.startswith("arn:") and len(r.split(":", 5)) == 6):
        raise PolicyError(f'Resource {r} must be in ARN format or "*".')
    return r


def _compile_statement(st: Any, kind: str, variables: bool) -> Statement:
    if not isinstance(st, dict):
        raise PolicyError("Syntax errors in policy.")
    unknown = set(st) - _STMT_KEYS
    if unknown:
        raise PolicyError(f"Syntax errors in policy. Unknown field {sorted(unknown)[0]}")
    effect = st.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError("Syntax errors in policy." if effect is None else f"Invalid effect: {effect}")
    sid = st.get("Sid", "")
    if not isinstance(sid, str) or (sid and not re.fullmatch(r"[A-Za-z0-9 _.-]*", sid)):
        raise PolicyError("Statement IDs (SID) must be alpha-numeric.")
    has_p, has_np = "Principal" in st, "NotPrincipal" in st
    if kind == IDENTITY and (has_p or has_np):
        raise PolicyError("Policy document should not specify a principal.")
    if kind != IDENTITY and not (has_p or has_np):
        raise PolicyError("Missing required field Principal")
    if has_p and has_np:
        raise PolicyError("Syntax errors in policy.")
    principal = _principal_spec(st["Principal"] if has_p else st["NotPrincipal"]) if kind != IDENTITY else None
    if ("Action" in st) == ("NotAction" in st):
        raise PolicyError("Policy statement must contain actions." if "Action" not in st else
                          "Syntax errors in policy.")
    action_items = [_check_action(a) for a in _as_list(st.get("Action", st.get("NotAction")))]
    if not action_items:
        raise PolicyError("Policy statement must contain actions.")
    if kind == TRUST:
        for a in action_items:
            if a.lower() not in _TRUST_ACTIONS:
                raise PolicyError("AssumeRole policy may only specify STS AssumeRole actions.")
    has_r, has_nr = "Resource" in st, "NotResource" in st
    resources: Names | None = None
    if kind == TRUST:
        if has_r or has_nr:
            raise PolicyError("Has prohibited field Resource.")
    else:
        if has_r == has_nr:
            raise PolicyError("Policy statement must contain resources." if not has_r else
                              "Syntax errors in policy.")
        items = [_check_resource(r) for r in _as_list(st.get("Resource", st.get("NotResource")))]
        if not items:
            raise PolicyError("Policy statement must contain resources.")
        resources = Names(items, ignore_case=False, variables=variables)
    cond = st.get("Condition")
    tests = compile_condition(cond) if cond is not None else []
    keys = frozenset(k.lower() for ops in (cond or {}).values() if isinstance(ops, dict) for k in ops)
    return Statement(sid, effect == "Allow", Names(action_items, ignore_case=True, variables=False),
                     "NotAction" in st, resources, has_nr, principal, has_np, tuple(tests), keys)


@functools.lru_cache(maxsize=2048)
def compile_policy(text: str, kind: str) -> Policy:
    """Parses and compiles a policy document; raises PolicyError with AWS's reason."""
    try:
        doc = json.loads(text)
    except (ValueError, TypeError):
        raise PolicyError("This policy contains invalid Json") from None
    if not isinstance(doc, dict):
        raise PolicyError("Syntax errors in policy.")
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise PolicyError(f"Syntax errors in policy. Unknown field {sorted(unknown)[0]}")
    version = doc.get("Version", "2008-10-17")
    if not isinstance(version, str):
        raise PolicyError("Syntax errors in policy.")
    if version not in VERSIONS:
        raise PolicyError("The policy failed legacy parsing")
    raw = doc.get("Statement")
    if raw is None:
        raise PolicyError("Syntax errors in policy.")
    stmts = _as_list(raw)
    if not stmts:
        raise PolicyError("Syntax errors in policy.")
    compiled = tuple(_compile_statement(s, kind, version == "2012-10-17") for s in stmts)
    sids = [s.sid for s in compiled if s.sid]
    if len(sids) != len(set(sids)):
        raise PolicyError("Statement IDs (SID) in a single policy must be unique.")
    return Policy(text, version, compiled)


def named_principals(policy: Policy) -> list[str]:
    """The AWS principal ARNs a resource or trust policy names (not "*", services or accounts' roots)."""
    out: set[str] = set()
    for st in policy.statements:
        if st.principal is not None:
            out.update(a for a in st.principal.aws if not a.endswith(":root"))
    return sorted(out)


def is_public(policy: Policy) -> bool:
    """S3's definition: some Allow grants to everyone ("*") without a condition on a restricting key."""
    for st in policy.statements:
        if not st.allow or st.principal is None:
            continue
        if st.not_principal or st.principal.anyone or "*" in st.principal.services:
            if not (st.raw_condition_keys & _RESTRICTING_KEYS):
                return True
    return False


def substituter(ks: KeySource) -> Callable[[str], str]:
    """Replaces policy variables `${aws:username}` etc.; an unknown variable can match nothing."""
    def subst(s: str) -> str:
        def one(m: re.Match[str]) -> str:
            name = m.group(1)
            if name in ("*", "?", "$"):
                return name
            vals = ks.value(name.lower())
            return vals[0] if vals else "\x00"
        return _VAR.sub(one, s)
    return subst
