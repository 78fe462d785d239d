"""Policy Condition blocks: operators compiled to predicates over the request context.

Semantics (IAM User Guide): operators in a block are AND-ed, keys inside an operator AND-ed, the values of
one key OR-ed (negated operators: none may match). A key absent from the request makes a positive operator
false and a negated one true; `...IfExists` makes an absent key true; `Null` tests presence.
`ForAnyValue:` / `ForAllValues:` compare every value of a multi-valued key.
"""

from __future__ import annotations

import base64
import ipaddress
from datetime import datetime, timezone
from typing import Any, Callable, Protocol

from .globs import glob

Values = list[str]


class PolicyError(ValueError):
    """A policy document that does not follow the grammar; the message is the reason AWS gives."""


class KeySource(Protocol):
    def value(self, key: str) -> Values | None:
        """The request's values for a condition key (lower-case name), or None when absent."""


def _num(v: str) -> float:
    return float(v)


def _date(v: str) -> float:
    v = v.strip()
    try:
        return float(v)
    except ValueError:
        pass
    s = v.replace("Z", "+00:00")
    d = datetime.fromisoformat(s)
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return d.timestamp()


def _net(v: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(v.strip(), strict=False)


def _arn_match(pattern: str) -> Callable[[str], bool]:
    """ARN comparison component by component (6 colon-separated parts), each a wildcard pattern."""
    pparts = pattern.split(":", 5)

    def match(arn: str) -> bool:
        aparts = arn.split(":", 5)
        if len(pparts) != len(aparts):
            return glob(pattern)(arn)
        return all(glob(p)(a) for p, a in zip(pparts, aparts))
    return match


# base operator -> (negated, builder(policy value) -> predicate(request value))
def _str_eq(v: str) -> Callable[[str], bool]:
    return v.__eq__


def _str_eq_ic(v: str) -> Callable[[str], bool]:
    low = v.lower()
    return lambda s: s.lower() == low


def _str_like(v: str) -> Callable[[str], bool]:
    return glob(v)


def _numeric(cmp: Callable[[float, float], bool]) -> Callable[[str], Callable[[str], bool]]:
    def build(v: str) -> Callable[[str], bool]:
        pv = _num(v)

        def pred(s: str) -> bool:
            try:
                return cmp(_num(s), pv)
            except ValueError:
                return False
        return pred
    return build


def _dates(cmp: Callable[[float, float], bool]) -> Callable[[str], Callable[[str], bool]]:
    def build(v: str) -> Callable[[str], bool]:
        pv = _date(v)

        def pred(s: str) -> bool:
            try:
                return cmp(_date(s), pv)
            except ValueError:
                return False
        return pred
    return build


def _bool(v: str) -> Callable[[str], bool]:
    low = v.lower()
    return lambda s: s.lower() == low


def _binary(v: str) -> Callable[[str], bool]:
    raw = base64.b64decode(v)
    return lambda s: base64.b64decode(s) == raw if s else False


def _ip(v: str) -> Callable[[str], bool]:
    net = _net(v)

    def pred(s: str) -> bool:
        try:
            return ipaddress.ip_address(s) in net
        except ValueError:
            return False
    return pred


def _eq(a: float, b: float) -> bool:
    return a == b


def _lt(a: float, b: float) -> bool:
    return a < b


def _le(a: float, b: float) -> bool:
    return a <= b


def _gt(a: float, b: float) -> bool:
    return a > b


def _ge(a: float, b: float) -> bool:
    return a >= b


OPERATORS: dict[str, tuple[bool, Callable[[str], Callable[[str], bool]]]] = {
    "stringequals": (False, _str_eq), "stringnotequals": (True, _str_eq),
    "stringequalsignorecase": (False, _str_eq_ic), "stringnotequalsignorecase": (True, _str_eq_ic),
    "stringlike": (False, _str_like), "stringnotlike": (True, _str_like),
    "numericequals": (False, _numeric(_eq)), "numericnotequals": (True, _numeric(_eq)),
    "numericlessthan": (False, _numeric(_lt)), "numericlessthanequals": (False, _numeric(_le)),
    "numericgreaterthan": (False, _numeric(_gt)), "numericgreaterthanequals": (False, _numeric(_ge)),
    "dateequals": (False, _dates(_eq)), "datenotequals": (True, _dates(_eq)),
    "datelessthan": (False, _dates(_lt)), "datelessthanequals": (False, _dates(_le)),
    "dategreaterthan": (False, _dates(_gt)), "dategreaterthanequals": (False, _dates(_ge)),
    "bool": (False, _bool), "binaryequals": (False, _binary),
    "ipaddress": (False, _ip), "notipaddress": (True, _ip),
    "arnequals": (False, _arn_match), "arnlike": (False, _arn_match),
    "arnnotequals": (True, _arn_match), "arnnotlike": (True, _arn_match),
}

Test = Callable[[KeySource, Callable[[str], str]], bool]


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, str)):
        return str(v)
    raise PolicyError("Syntax errors in policy.")


def _compile_one(op_name: str, key: str, raw_values: Any) -> Test:
    values = [_scalar(v) for v in (raw_values if isinstance(raw_values, list) else [raw_values])]
    if not values:
        raise PolicyError("Syntax errors in policy.")
    lkey = key.lower()
    name = op_name.lower()
    if name == "null":
        want_absent = [v.lower() == "true" for v in values]

        def null_test(ks: KeySource, _subst: Callable[[str], str]) -> bool:
            absent = not ks.value(lkey)
            return any(absent == w for w in want_absent)
        return null_test
    qualifier = ""
    if name.startswith("foranyvalue:"):
        qualifier, name = "any", name[len("foranyvalue:"):]
    elif name.startswith("forallvalues:"):
        qualifier, name = "all", name[len("forallvalues:"):]
    if_exists = name.endswith("ifexists")
    if if_exists:
        name = name[: -len("ifexists")]
    entry = OPERATORS.get(name)
    if entry is None:
        raise PolicyError(f"Invalid Condition type : {op_name}.")
    negated, build = entry
    has_vars = any("${" in v for v in values) and name.startswith("string")
    try:
        preds = None if has_vars else [build(v) for v in values]
    except (ValueError, TypeError):
        raise PolicyError(f"Invalid value for condition {op_name} on key {key}.") from None

    def test(ks: KeySource, subst: Callable[[str], str]) -> bool:
        got = ks.value(lkey)
        ps = preds if preds is not None else [build(subst(v)) for v in values]
        if not got:
            if qualifier == "all":
                return True
            if qualifier == "any":
                return False
            return True if (if_exists or negated) else False

        def matches(s: str) -> bool:
            hit = any(p(s) for p in ps)
            return not hit if negated else hit
        if qualifier == "all":
            return all(matches(s) for s in got)
        if qualifier == "any" or not negated:
            return any(matches(s) for s in got)
        return all(matches(s) for s in got)
    return test


def compile_condition(block: Any) -> list[Test]:
    if not isinstance(block, dict):
        raise PolicyError("Syntax errors in policy.")
    tests: list[Test] = []
    for op_name, keys in block.items():
        if not isinstance(keys, dict) or not keys:
            raise PolicyError("Syntax errors in policy.")
        for key, values in keys.items():
            tests.append(_compile_one(str(op_name), str(key), values))
    return tests
