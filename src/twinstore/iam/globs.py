"""Wildcard patterns (`*` any run, `?` one character) compiled once and cached."""

from __future__ import annotations

import functools
import re
from typing import Callable


@functools.lru_cache(maxsize=4096)
def glob(pattern: str, ignore_case: bool = False) -> Callable[[str], bool]:
    """A predicate matching whole strings against `pattern`."""
    if pattern == "*":
        return _any
    if "*" not in pattern and "?" not in pattern:
        if ignore_case:
            low = pattern.lower()
            return lambda s: s.lower() == low
        return pattern.__eq__
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(rx, re.DOTALL | (re.IGNORECASE if ignore_case else 0)).fullmatch  # type: ignore[return-value]


def _any(_: str) -> bool:
    return True
