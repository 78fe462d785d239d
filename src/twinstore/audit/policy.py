"""May a service principal (CloudTrail, S3 logging) write its log files into a bucket? The bucket policy
decides, as it does on AWS. A small evaluator for what such policies contain (Service principals, s3 actions,
resource ARNs with wildcards, String/Arn conditions); an explicit Deny wins, nothing allowed means denied.
`Checker` lets region.py substitute the IAM layer's full evaluator."""

from __future__ import annotations

import fnmatch
import json
from typing import Any, Callable

# (policy text or None, service principal, action, resource ARN, condition context) -> allowed?
Checker = Callable[[str | None, str, str, str, dict[str, str]], bool]


def _list(v: Any) -> list[Any]:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def _glob(pattern: str, value: str, case: bool = True) -> bool:
    if not case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _principal_ok(st: dict[str, Any], service: str) -> bool:
    if "NotPrincipal" in st:
        return False
    p = st.get("Principal")
    if p == "*":
        return True
    if isinstance(p, dict):
        if "*" in _list(p.get("AWS")):
            return True
        return service in _list(p.get("Service"))
    return False


def _action_ok(st: dict[str, Any], action: str) -> bool:
    if "Action" in st:
        return any(_glob(a, action, case=False) for a in _list(st["Action"]))
    return not any(_glob(a, action, case=False) for a in _list(st.get("NotAction")))


def _resource_ok(st: dict[str, Any], arn: str) -> bool:
    if "Resource" in st:
        return any(_glob(r, arn) for r in _list(st["Resource"]))
    return not any(_glob(r, arn) for r in _list(st.get("NotResource")))


_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda want, got: want == got,
    "StringNotEquals": lambda want, got: want != got,
    "StringEqualsIgnoreCase": lambda want, got: want.lower() == got.lower(),
    "StringLike": lambda want, got: _glob(want, got),
    "StringNotLike": lambda want, got: not _glob(want, got),
    "ArnEquals": lambda want, got: want == got,
    "ArnLike": lambda want, got: _glob(want, got),
    "ArnNotEquals": lambda want, got: want != got,
    "ArnNotLike": lambda want, got: not _glob(want, got),
}


def _conditions_ok(st: dict[str, Any], context: dict[str, str]) -> bool:
    for op, block in (st.get("Condition") or {}).items():
        if_exists = op.endswith("IfExists")
        base = op[: -len("IfExists")] if if_exists else op
        fn = _OPERATORS.get(base)
        if fn is None or not isinstance(block, dict):
            return False  # an operator we cannot evaluate never grants
        for k, wanted in block.items():
            got = context.get(k.lower())
            if got is None:
                if if_exists or base.endswith(("NotEquals", "NotLike")):
                    continue
                return False
            negative = "Not" in base
            results = [fn(str(w), got) for w in _list(wanted)]
            if not (all(results) if negative else any(results)):
                return False
    return True


def service_allowed(policy: str | None, service: str, action: str, resource: str, context: dict[str, str]) -> bool:
    if not policy:
        return False
    try:
        doc = json.loads(policy)
    except ValueError:
        return False
    context = {k.lower(): v for k, v in context.items()}
    allowed = False
    for st in _list(doc.get("Statement")):
        if not isinstance(st, dict):
            continue
        if not (_principal_ok(st, service) and _action_ok(st, action) and _resource_ok(st, resource)
                and _conditions_ok(st, context)):
            continue
        if st.get("Effect") == "Deny":
            return False
        if st.get("Effect") == "Allow":
            allowed = True
    return allowed
