"""Expressions compiled to Python closures over a row dict."""

from __future__ import annotations

import math
import re
from typing import Any, Callable

from . import ast as A
from .functions import SCALAR, period_floor
from .values import TIME_FIELDS, Timestamp, compare, equal, num, text, truthy

Fn = Callable[[dict[str, Any]], Any]


def compile_expr(e: A.Expr, slots: dict[int, str] | None = None) -> Fn:
    """`slots` maps id(aggregate Call) -> the row key holding its result (inside `stats`)."""
    if slots and isinstance(e, A.Call) and id(e) in slots:
        key = slots[id(e)]
        return lambda r: r.get(key)
    if isinstance(e, A.Lit):
        v = e.value
        return lambda r: v
    if isinstance(e, A.Field):
        name = e.name
        if name in TIME_FIELDS:  # stays a date under an alias or through min/max/latest
            return lambda r: None if (v := r.get(name)) is None else Timestamp(v)
        return lambda r: r.get(name)
    if isinstance(e, (A.Duration, A.Regex)):
        obj = e
        return lambda r: obj
    if isinstance(e, A.ListLit):
        fns = [compile_expr(x, slots) for x in e.items]
        return lambda r: [f(r) for f in fns]
    if isinstance(e, A.Star):
        return lambda r: 1
    if isinstance(e, A.Unary):
        f = compile_expr(e.operand, slots)
        if e.op == "not":
            return lambda r: not truthy(f(r))

        def neg(r: dict[str, Any]) -> Any:
            n = num(f(r))
            return None if n is None else -n
        return neg
    if isinstance(e, A.Binary):
        return _binary(e, slots)
    if isinstance(e, A.Call):
        return _call(e, slots)
    raise TypeError(f"cannot compile {e!r}")


def _binary(e: A.Binary, slots: dict[int, str] | None) -> Fn:
    op = e.op
    lf = compile_expr(e.left, slots)
    if op in ("like", "notlike", "=~"):
        return _match(e, lf, slots)
    if op in ("in", "notin"):
        assert isinstance(e.right, A.ListLit)
        consts = [x.value for x in e.right.items if isinstance(x, A.Lit)]
        if len(consts) == len(e.right.items):
            strs = {c for c in consts if c.__class__ is str}
            others = [c for c in consts if c.__class__ is not str]
            want = op == "in"

            def member(r: dict[str, Any]) -> bool:
                v = lf(r)
                if v is None:
                    return False
                if v.__class__ is str and v in strs:
                    return want
                return (any(equal(v, c) for c in consts) if others or v.__class__ is not str else False) == want
            return member
        rf = compile_expr(e.right, slots)
        return lambda r: (v := lf(r)) is not None and (any(equal(v, c) for c in rf(r)) == (op == "in"))
    rf = compile_expr(e.right, slots)
    if op == "and":
        return lambda r: truthy(lf(r)) and truthy(rf(r))
    if op == "or":
        return lambda r: truthy(lf(r)) or truthy(rf(r))
    if op in ("=", "!="):
        if isinstance(e.right, A.Lit) and e.right.value.__class__ is str:
            c = e.right.value
            if op == "=":
                def eq_str(r: dict[str, Any]) -> bool:
                    v = lf(r)
                    if v.__class__ is str:
                        return bool(v == c)
                    return v is not None and equal(v, c)
                return eq_str

            def ne_str(r: dict[str, Any]) -> bool:
                v = lf(r)
                if v.__class__ is str:
                    return bool(v != c)
                return v is not None and not equal(v, c)
            return ne_str
        if op == "=":
            return lambda r: compare(lf(r), rf(r)) == 0
        return lambda r: (c := compare(lf(r), rf(r))) is not None and c != 0
    if op in ("<", "<=", ">", ">="):
        test = {"<": lambda c: c < 0, "<=": lambda c: c <= 0, ">": lambda c: c > 0, ">=": lambda c: c >= 0}[op]
        return lambda r: (c := compare(lf(r), rf(r))) is not None and test(c)
    arith = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
             "/": lambda a, b: a / b, "%": lambda a, b: math.fmod(a, b), "^": lambda a, b: a ** b}[op]

    def arithmetic(r: dict[str, Any]) -> Any:
        a, b = num(lf(r)), num(rf(r))
        if a is None or b is None:
            return None
        try:
            out = arith(a, b)
        except (ZeroDivisionError, OverflowError, ValueError):
            return None
        return out if not isinstance(out, complex) else None
    return arithmetic


def _match(e: A.Binary, lf: Fn, slots: dict[int, str] | None) -> Fn:
    regex = e.op == "=~"
    want = e.op != "notlike"
    if isinstance(e.right, A.Regex):
        search = e.right.compiled.search

        def rx(r: dict[str, Any]) -> bool:
            v = lf(r)
            if v is None:
                return False
            return (search(v if v.__class__ is str else text(v)) is not None) == want
        return rx
    if isinstance(e.right, A.Lit) and not regex:
        sub = text(e.right.value)

        def contains(r: dict[str, Any]) -> bool:
            v = lf(r)
            if v is None:
                return False
            return (sub in (v if v.__class__ is str else text(v))) == want
        return contains
    rf = compile_expr(e.right, slots)

    def dynamic(r: dict[str, Any]) -> bool:
        v, p = lf(r), rf(r)
        if v is None or p is None:
            return False
        if isinstance(p, A.Regex):
            hit = p.compiled.search(text(v)) is not None
        elif regex:
            try:
                hit = re.search(text(p), text(v)) is not None
            except re.error:
                return False
        else:
            hit = text(p) in text(v)
        return hit == want
    return dynamic


def _call(e: A.Call, slots: dict[int, str] | None) -> Fn:
    if e.name in A.AGGREGATES:
        raise ValueError(f"aggregation function {e.name}() is only valid in stats")
    if e.name == "ispresent":
        f = compile_expr(e.args[0], slots)
        return lambda r: int(f(r) is not None)  # Insights functions answer 1/0
    if e.name == "bin":
        d = e.args[0]
        if not isinstance(d, A.Duration):
            raise ValueError("bin() takes a time period such as 5m")

        def binned(r: dict[str, Any]) -> Any:
            ts = r.get("@timestamp")
            return None if ts is None else Timestamp(period_floor(int(ts), d))
        return binned
    fn = SCALAR[e.name]
    args = [compile_expr(a, slots) for a in e.args]
    if len(args) == 1:
        a0 = args[0]
        return lambda r: fn(a0(r))
    return lambda r: fn(*[a(r) for a in args])
