"""Column-at-a-time evaluation of filters and count-only stats: a chunk's columns are tested as whole lists
(no per-event dict), which is what keeps `filter ... | stats count(*) by f` over a million events fast.
Expressions outside this subset return None and run row by row (compile.py)."""

from __future__ import annotations

import re
from typing import Any, Callable

from . import ast as A
from .compile import compile_expr
from .functions import FIXED_MS
from .values import compare, equal, text, truthy

Cols = dict[str, list[Any]]
Vec = Callable[[Cols, int], list[Any]]


def vexpr(e: A.Expr) -> Vec | None:
    if isinstance(e, A.Field):
        name = e.name
        return lambda cols, n: cols.get(name) or [None] * n
    if isinstance(e, A.Lit):
        v = e.value
        return lambda cols, n: [v] * n
    return vpred(e)


def vpred(e: A.Expr) -> Vec | None:
    """A list of booleans for the events of a chunk, or None when `e` is outside the vector subset."""
    if isinstance(e, A.Unary) and e.op == "not":
        inner = vpred(e.operand) or _truth(e.operand)
        return None if inner is None else (lambda cols, n: [not x for x in inner(cols, n)])
    if isinstance(e, A.Call) and e.name == "ispresent" and isinstance(e.args[0], A.Field):
        name = e.args[0].name
        return lambda cols, n: [v is not None for v in cols.get(name) or [None] * n]
    if not isinstance(e, A.Binary):
        return None
    op = e.op
    if op in ("and", "or"):
        left, right = vpred(e.left) or _truth(e.left), vpred(e.right) or _truth(e.right)
        if left is None or right is None:
            return None
        if op == "and":
            return lambda cols, n: [a and b for a, b in zip(left(cols, n), right(cols, n))]
        return lambda cols, n: [a or b for a, b in zip(left(cols, n), right(cols, n))]
    if not isinstance(e.left, A.Field):
        return None
    col = vexpr(e.left)
    assert col is not None
    if op in ("=", "!=") and isinstance(e.right, A.Lit) and e.right.value.__class__ is str:
        c = e.right.value
        if op == "=":
            return lambda cols, n: [(v == c) if v.__class__ is str else (v is not None and equal(v, c))
                                    for v in col(cols, n)]
        return lambda cols, n: [(v != c) if v.__class__ is str else (v is not None and not equal(v, c))
                                for v in col(cols, n)]
    if op in ("=", "!=", "<", "<=", ">", ">=") and isinstance(e.right, A.Lit):
        c = e.right.value
        test = {"=": lambda x: x == 0, "!=": lambda x: x != 0, "<": lambda x: x < 0, "<=": lambda x: x <= 0,
                ">": lambda x: x > 0, ">=": lambda x: x >= 0}[op]
        return lambda cols, n: [(r := compare(v, c)) is not None and test(r) for v in col(cols, n)]
    if op in ("like", "notlike", "=~"):
        want = op != "notlike"
        if isinstance(e.right, A.Regex):
            search = e.right.compiled.search
        elif isinstance(e.right, A.Lit):
            if op == "=~":
                search = re.compile(text(e.right.value)).search
            else:
                sub = text(e.right.value)
                return lambda cols, n: [v is not None and ((sub in v) if v.__class__ is str else (sub in text(v)))
                                        == want for v in col(cols, n)]
        else:
            return None
        return lambda cols, n: [v is not None and (search(v if v.__class__ is str else text(v)) is not None) == want
                                for v in col(cols, n)]
    if op in ("in", "notin") and isinstance(e.right, A.ListLit) and all(isinstance(x, A.Lit)
                                                                       for x in e.right.items):
        member = compile_expr(A.Binary(op, A.Field("v"), e.right))
        return lambda cols, n: [member({"v": v}) for v in col(cols, n)]
    return None


def _truth(e: A.Expr) -> Vec | None:
    if isinstance(e, A.Field):
        f = vexpr(e)
        assert f is not None
        return lambda cols, n: [truthy(v) for v in f(cols, n)]
    return None


def vkey(e: A.Expr) -> tuple[Vec, bool] | None:
    """A `stats ... by` key as a column: a field, or bin() of @timestamp with a fixed-length period.
    The flag says the key is a time (rendered as a date)."""
    if isinstance(e, A.Field):
        f = vexpr(e)
        assert f is not None
        return f, False
    if isinstance(e, A.Call) and e.name == "bin" and isinstance(e.args[0], A.Duration) and \
            e.args[0].unit in FIXED_MS:
        step = int(e.args[0].amount * FIXED_MS[e.args[0].unit]) or 1
        return (lambda cols, n: [t - t % step for t in cols["@timestamp"]]), True
    return None
