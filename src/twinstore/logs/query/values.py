"""Value semantics: coercion, comparison, truth and rendering of query values."""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any


class Timestamp(int):
    """Milliseconds since the epoch that render as a date (results of bin(), fromMillis(), datefloor()...)."""


TIME_FIELDS = {"@timestamp", "@ingestionTime"}


def num(v: Any) -> int | float | None:
    """The numeric value of `v` (strings that spell numbers count), else None."""
    cls = v.__class__
    if cls is int or cls is float or cls is Timestamp:
        return v  # type: ignore[no-any-return]
    if cls is bool:
        return int(v)
    if cls is str:
        try:
            return int(v)
        except ValueError:
            try:
                f = float(v)
            except ValueError:
                return None
            return f if math.isfinite(f) else None
    return None


def text(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v.__class__ is float:
        return render_float(v)
    return str(v)


def compare(a: Any, b: Any) -> int | None:
    """-1/0/1, or None when either side is null. Numbers compare numerically (a string that spells a number
    compares as that number against a number), everything else as text."""
    if a is None or b is None:
        return None
    ca, cb = a.__class__, b.__class__
    if ca is str and cb is str:
        return (a > b) - (a < b)
    if ca is not str and cb is not str:
        na, nb = num(a), num(b)
        if na is not None and nb is not None:
            return (na > nb) - (na < nb)
    else:
        na, nb = num(a), num(b)
        if na is not None and nb is not None:
            return (na > nb) - (na < nb)
    sa, sb = text(a), text(b)
    return (sa > sb) - (sa < sb)


def equal(a: Any, b: Any) -> bool:
    if a.__class__ is str and b.__class__ is str:
        return bool(a == b)
    return compare(a, b) == 0


def truthy(v: Any) -> bool:
    if v is None or v is False:
        return False
    if v is True:
        return True
    if v.__class__ is str:
        return v != ""
    n = num(v)
    return bool(n) if n is not None else True


def render_float(f: float) -> str:
    if math.isfinite(f) and f == int(f) and abs(f) < 1e16:
        return str(int(f))
    return repr(f)


def format_ms(ms: int) -> str:
    dt = _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.timezone.utc)
    return dt.strftime("%Y-%m-%d %H:%M:%S.") + f"{int(ms) % 1000:03d}"


def render(name: str, v: Any) -> str | None:
    """The string GetQueryResults shows for a value (None: the field is omitted from the row)."""
    if v is None:
        return None
    if v.__class__ is Timestamp or (name in TIME_FIELDS and v.__class__ is int):
        return format_ms(v)
    if v.__class__ is float:
        return render_float(v)
    if v.__class__ in (dict, list):
        import json
        return json.dumps(v, separators=(",", ":"))
    return text(v)


def sort_key(v: Any) -> tuple[int, Any]:
    """Orders numbers before text; numbers numerically."""
    n = num(v) if v.__class__ is not str else None
    if n is not None:
        return (0, n)
    return (1, text(v))
