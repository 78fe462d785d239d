"""Accumulators of the `stats` aggregation functions."""

from __future__ import annotations

import math
from typing import Any

from .values import num, sort_key


class Count:
    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0

    def add(self, v: Any, ts: Any) -> None:
        if v is not None:
            self.n += 1

    def add_many(self, xs: list[Any]) -> None:
        self.n += sum(v is not None for v in xs)

    def result(self) -> Any:
        return self.n


class CountDistinct:
    __slots__ = ("seen",)

    def __init__(self) -> None:
        self.seen: set[Any] = set()

    def add(self, v: Any, ts: Any) -> None:
        if v is not None:
            self.seen.add(v)

    def add_many(self, xs: list[Any]) -> None:
        self.seen.update(v for v in xs if v is not None)

    def result(self) -> Any:
        return len(self.seen)


class Sum:
    __slots__ = ("total", "n")

    def __init__(self) -> None:
        self.total: float = 0
        self.n = 0

    def add(self, v: Any, ts: Any) -> None:
        x = num(v)
        if x is not None:
            self.total += x
            self.n += 1

    def add_many(self, xs: list[Any]) -> None:
        ns = [x for x in map(num, xs) if x is not None]
        self.total += sum(ns)
        self.n += len(ns)

    def result(self) -> Any:
        return self.total if self.n else None


class Avg(Sum):
    def result(self) -> Any:
        return self.total / self.n if self.n else None


class Extreme:
    __slots__ = ("best", "sign")

    def __init__(self, sign: int) -> None:
        self.best: Any = None
        self.sign = sign

    def add(self, v: Any, ts: Any) -> None:
        x = num(v)
        if x is not None and (self.best is None or (x - self.best) * self.sign > 0):
            self.best = x

    def add_many(self, xs: list[Any]) -> None:
        ns = [x for x in map(num, xs) if x is not None]
        if ns:
            m = max(ns) if self.sign > 0 else min(ns)
            if self.best is None or (m - self.best) * self.sign > 0:
                self.best = m

    def result(self) -> Any:
        return self.best


class Values:
    __slots__ = ("xs", "p")

    def __init__(self, p: float = 0) -> None:
        self.xs: list[float] = []
        self.p = p

    def add(self, v: Any, ts: Any) -> None:
        x = num(v)
        if x is not None:
            self.xs.append(x)


class Pct(Values):
    def result(self) -> Any:
        if not self.xs:
            return None
        xs = sorted(self.xs)
        k = max(0, min(len(xs) - 1, math.ceil(self.p / 100 * len(xs)) - 1))
        return xs[k]


class Stddev(Values):
    def result(self) -> Any:
        n = len(self.xs)
        if n < 2:
            return 0.0 if n == 1 else None
        mean = sum(self.xs) / n
        return math.sqrt(sum((x - mean) ** 2 for x in self.xs) / (n - 1))


class ByTime:
    """earliest()/latest(): the value of the event with the smallest/greatest @timestamp."""
    __slots__ = ("best_ts", "value", "latest")

    def __init__(self, latest: bool) -> None:
        self.best_ts: Any = None
        self.value: Any = None
        self.latest = latest

    def add(self, v: Any, ts: Any) -> None:
        if v is None or ts is None:
            return
        if self.best_ts is None or (ts > self.best_ts if self.latest else ts < self.best_ts):
            self.best_ts, self.value = ts, v

    def result(self) -> Any:
        return self.value


class SortsFirst:
    __slots__ = ("value", "last")

    def __init__(self, last: bool) -> None:
        self.value: Any = None
        self.last = last

    def add(self, v: Any, ts: Any) -> None:
        if v is None:
            return
        if self.value is None or ((sort_key(v) > sort_key(self.value)) if self.last
                                  else (sort_key(v) < sort_key(self.value))):
            self.value = v

    def result(self) -> Any:
        return self.value


VECTOR_AGGREGATES = {"count", "count_distinct", "sum", "avg", "min", "max"}  # those with add_many


def make(name: str, p: float = 0) -> Any:
    if name == "count":
        return Count()
    if name == "count_distinct":
        return CountDistinct()
    if name == "sum":
        return Sum()
    if name == "avg":
        return Avg()
    if name in ("min", "max"):
        return Extreme(1 if name == "max" else -1)
    if name == "pct":
        return Pct(p)
    if name == "stddev":
        return Stddev()
    if name in ("earliest", "latest"):
        return ByTime(name == "latest")
    if name in ("sortsfirst", "sortslast"):
        return SortsFirst(name == "sortslast")
    raise ValueError(name)
