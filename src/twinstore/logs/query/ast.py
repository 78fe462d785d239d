"""Syntax tree of a Logs Insights query: expressions and commands."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Union


@dataclass(slots=True)
class Lit:
    value: Any


@dataclass(slots=True)
class Field:
    name: str


@dataclass(slots=True)
class Regex:
    source: str
    compiled: re.Pattern[str]


@dataclass(slots=True)
class ListLit:
    items: list["Expr"]


@dataclass(slots=True)
class Duration:
    """`5m`, `1h`: a period; bin()/datefloor() take it."""
    amount: float
    unit: str  # normalised: ms s m h d w mo q y


@dataclass(slots=True)
class Star:
    """`*` in `count(*)`."""


@dataclass(slots=True)
class Unary:
    op: str  # "-" or "not"
    operand: "Expr"


@dataclass(slots=True)
class Binary:
    op: str  # + - * / % ^ = != < <= > >= and or like notlike =~ in notin
    left: "Expr"
    right: "Expr"


@dataclass(slots=True)
class Call:
    name: str  # lower-cased
    args: list["Expr"]
    start: int = 0
    end: int = 0


Expr = Union[Lit, Field, Regex, ListLit, Duration, Star, Unary, Binary, Call]


@dataclass(slots=True)
class Item:
    """An expression and the name of its output column (alias, field name, or source text)."""
    expr: Expr
    name: str
    start: int = 0  # character span of the expression in the query
    end: int = 0


@dataclass(slots=True)
class Fields:
    items: list[Item]


@dataclass(slots=True)
class Display:
    items: list[Item]


@dataclass(slots=True)
class Filter:
    expr: Expr


@dataclass(slots=True)
class Stats:
    items: list[Item]
    by: list[Item]


@dataclass(slots=True)
class SortKey:
    expr: Expr
    desc: bool


@dataclass(slots=True)
class Sort:
    keys: list[SortKey]


@dataclass(slots=True)
class Limit:
    n: int


@dataclass(slots=True)
class Parse:
    source: Expr
    pattern: re.Pattern[str]
    names: list[str]


@dataclass(slots=True)
class Dedup:
    names: list[str]


Command = Union[Fields, Display, Filter, Stats, Sort, Limit, Parse, Dedup]


@dataclass(slots=True)
class Source:
    """`SOURCE logGroups(namePrefix: [...], class: '...')`: the log groups to query, instead of StartQuery's
    logGroupName(s)."""
    prefixes: list[str]
    log_group_class: str | None = None


@dataclass(slots=True)
class Query:
    commands: list[Command] = field(default_factory=list)
    text: str = ""
    source: Source | None = None


AGGREGATES = {"count", "count_distinct", "sum", "avg", "min", "max", "pct", "stddev", "earliest", "latest",
              "sortsfirst", "sortslast"}


def walk(e: Expr) -> Any:
    """Yields `e` and every sub-expression."""
    yield e
    if isinstance(e, Unary):
        yield from walk(e.operand)
    elif isinstance(e, Binary):
        yield from walk(e.left)
        yield from walk(e.right)
    elif isinstance(e, Call):
        for a in e.args:
            yield from walk(a)
    elif isinstance(e, ListLit):
        for a in e.items:
            yield from walk(a)


def has_aggregate(e: Expr) -> bool:
    return any(isinstance(x, Call) and x.name in AGGREGATES for x in walk(e))
