"""Scalar functions of the language (string, numeric, datetime, IP, general)."""

from __future__ import annotations

import calendar
import datetime as _dt
import ipaddress
import math
from typing import Any, Callable

from . import ast as A
from .values import Timestamp, num, text

FIXED_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


def period_floor(ms: int, d: A.Duration) -> int:
    if d.unit in FIXED_MS:
        step = int(d.amount * FIXED_MS[d.unit]) or 1
        return ms - ms % step
    months = int(d.amount) * {"mo": 1, "q": 3, "y": 12}[d.unit] or 1
    t = _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.timezone.utc)
    idx = t.year * 12 + t.month - 1
    idx -= idx % months
    return calendar.timegm((idx // 12, idx % 12 + 1, 1, 0, 0, 0)) * 1000


def period_ceil(ms: int, d: A.Duration) -> int:
    f = period_floor(ms, d)
    if f == ms:
        return ms
    if d.unit in FIXED_MS:
        return f + (int(d.amount * FIXED_MS[d.unit]) or 1)
    months = int(d.amount) * {"mo": 1, "q": 3, "y": 12}[d.unit] or 1
    t = _dt.datetime.fromtimestamp(f / 1000, tz=_dt.timezone.utc)
    idx = t.year * 12 + t.month - 1 + months
    return calendar.timegm((idx // 12, idx % 12 + 1, 1, 0, 0, 0)) * 1000


def _s(v: Any) -> str | None:
    return None if v is None else text(v)


def _numeric(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any) -> Any:
        ns = [num(a) for a in args]
        if any(n is None for n in ns):
            return None
        try:
            return fn(*ns)
        except (ValueError, OverflowError, ZeroDivisionError):
            return None
    return wrapped


def _trim(kind: str) -> Callable[..., Any]:
    def f(s: Any, chars: Any = None) -> Any:
        s = _s(s)
        if s is None:
            return None
        c = None if chars is None else text(chars)
        return {"l": s.lstrip, "r": s.rstrip, "b": s.strip}[kind](c)
    return f


def _substr(s: Any, start: Any, length: Any = None) -> Any:
    s = _s(s)
    st = num(start)
    if s is None or st is None:
        return None
    st = int(st)
    if length is None:
        return s[st:]
    ln = num(length)
    return None if ln is None else s[st:st + int(ln)]


def _replace(s: Any, search: Any, repl: Any) -> Any:
    s = _s(s)
    return None if s is None or search is None else s.replace(text(search), "" if repl is None else text(repl))


def _ip(v: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text(v).strip()) if v is not None else None
    except ValueError:
        return None


def _in_subnet(version: int | None) -> Callable[..., Any]:
    def f(ip: Any, cidr: Any) -> Any:
        addr = _ip(ip)
        if addr is None or cidr is None or (version and addr.version != version):
            return 0
        try:
            return int(addr in ipaddress.ip_network(text(cidr).strip(), strict=False))
        except (ValueError, TypeError):
            return 0
    return f


def _greatest(*args: Any) -> Any:
    ns = [n for n in (num(a) for a in args) if n is not None]
    return max(ns) if ns else None


def _least(*args: Any) -> Any:
    ns = [n for n in (num(a) for a in args) if n is not None]
    return min(ns) if ns else None


def _datefloor(ts: Any, d: Any) -> Any:
    n = num(ts)
    return None if n is None or not isinstance(d, A.Duration) else Timestamp(period_floor(int(n), d))


def _dateceil(ts: Any, d: Any) -> Any:
    n = num(ts)
    return None if n is None or not isinstance(d, A.Duration) else Timestamp(period_ceil(int(n), d))


def _from_millis(v: Any) -> Any:
    n = num(v)
    return None if n is None else Timestamp(int(n))


def _to_millis(v: Any) -> Any:
    n = num(v)
    return None if n is None else int(n)


SCALAR: dict[str, Callable[..., Any]] = {
    "coalesce": lambda *a: next((x for x in a if x is not None), None),
    "isempty": lambda s: int(s is None or text(s) == ""),
    "isblank": lambda s: int(s is None or text(s).strip() == ""),
    "concat": lambda *a: "".join(text(x) for x in a if x is not None),
    "ltrim": _trim("l"), "rtrim": _trim("r"), "trim": _trim("b"),
    "strlen": lambda s: None if s is None else len(text(s)),
    "toupper": lambda s: None if s is None else text(s).upper(),
    "tolower": lambda s: None if s is None else text(s).lower(),
    "substr": _substr,
    "replace": _replace,
    "strcontains": lambda s, sub: None if s is None else int(sub is not None and text(sub) in text(s)),
    "abs": _numeric(abs),
    "ceil": _numeric(lambda x: math.ceil(x)),
    "floor": _numeric(lambda x: math.floor(x)),
    "greatest": _greatest,
    "least": _least,
    "log": _numeric(math.log),
    "sqrt": _numeric(math.sqrt),
    "datefloor": _datefloor,
    "dateceil": _dateceil,
    "frommillis": _from_millis,
    "tomillis": _to_millis,
    "isvalidip": lambda v: int(_ip(v) is not None),
    "isvalidipv4": lambda v: int((a := _ip(v)) is not None and a.version == 4),
    "isvalidipv6": lambda v: int((a := _ip(v)) is not None and a.version == 6),
    "isipinsubnet": _in_subnet(None),
    "isipv4insubnet": _in_subnet(4),
    "isipv6insubnet": _in_subnet(6),
}
ARITY: dict[str, tuple[int, int]] = {
    "coalesce": (1, 99), "concat": (1, 99), "greatest": (1, 99), "least": (1, 99), "ltrim": (1, 2),
    "rtrim": (1, 2), "trim": (1, 2), "substr": (2, 3), "replace": (3, 3), "strcontains": (2, 2),
    "datefloor": (2, 2), "dateceil": (2, 2), "isipinsubnet": (2, 2), "isipv4insubnet": (2, 2),
    "isipv6insubnet": (2, 2), "ispresent": (1, 1), "bin": (1, 1),
    "count": (0, 1), "pct": (2, 2),
}
SPECIAL = {"ispresent", "bin"}
KNOWN_FUNCTIONS = set(SCALAR) | SPECIAL


def arity(name: str) -> tuple[int, int]:
    return ARITY.get(name, (1, 1))
