"""Timestamp formats used on the wire. Internally times are integer microseconds since the epoch."""

from __future__ import annotations

import calendar
import email.utils
import time
from datetime import datetime, timezone

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def now_us() -> int:
    return time.time_ns() // 1000


_iso_seconds: dict[int, str] = {}
_ISO_MS = [f"{i:03d}Z" for i in range(1000)]


def iso8601(us: int) -> str:
    """`2025-01-01T12:00:00.000Z`, the form S3 uses in XML bodies (a listing formats a thousand)."""
    sec, rest = divmod(us, 1_000_000)
    head = _iso_seconds.get(sec)
    if head is None:
        if len(_iso_seconds) > 4096:
            _iso_seconds.clear()
        t = time.gmtime(sec)
        head = _iso_seconds[sec] = "%04d-%02d-%02dT%02d:%02d:%02d." % (
            t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)
    return head + _ISO_MS[rest // 1000]


def rfc1123(us: int) -> str:
    """`Wed, 01 Jan 2025 12:00:00 GMT`, the form S3 uses in headers."""
    t = time.gmtime(us // 1_000_000)
    return "%s, %02d %s %04d %02d:%02d:%02d GMT" % (
        _DAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon], t.tm_year, t.tm_hour, t.tm_min, t.tm_sec)


def parse_http_date(value: str) -> int | None:
    """Parses an RFC 1123/850/asctime date or ISO 8601 timestamp; None when unparseable."""
    try:
        parsed = email.utils.parsedate_tz(value)
        if parsed is not None:
            return int(email.utils.mktime_tz(parsed)) * 1_000_000
    except (TypeError, ValueError, OverflowError):
        pass
    return parse_iso8601(value)


def parse_iso8601(value: str) -> int | None:
    try:
        v = value.strip()
        if v.endswith("Z"):
            v = v[:-1] + "+00:00"
        dt = datetime.fromisoformat(v)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return calendar.timegm(dt.utctimetuple()) * 1_000_000 + dt.microsecond
    except (TypeError, ValueError):
        return None


def amz_date(us: int) -> str:
    """`20250101T120000Z`, the SigV4 `x-amz-date` form."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(us // 1_000_000))


def parse_amz_date(value: str) -> int | None:
    """Parses `20250101T120000Z` without strptime (which consults the locale on every call)."""
    if len(value) != 16 or value[8] != "T" or value[15] != "Z":
        return None
    try:
        y, mo, d = int(value[0:4]), int(value[4:6]), int(value[6:8])
        h, mi, s = int(value[9:11]), int(value[11:13]), int(value[13:15])
    except ValueError:
        return None
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 61):
        return None
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * 1_000_000
