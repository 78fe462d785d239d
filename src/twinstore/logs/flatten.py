"""Field discovery: a JSON log event becomes dotted-path columns (`userIdentity.arn`, `resources.0.ARN`),
parsed once at ingestion so queries read only the columns they name."""

from __future__ import annotations

from typing import Any

import orjson

MAX_FIELDS = 1000  # per event; AWS documents ~1000 discovered fields per log group


def _flat(obj: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for k, v in obj.items():
        cls = v.__class__
        if cls is dict:
            _flat(v, prefix + k + ".", out)
        elif cls is list:
            _flat_list(v, prefix + k + ".", out)
        else:
            out[prefix + k] = v


def _flat_list(items: list[Any], prefix: str, out: dict[str, Any]) -> None:
    for i, x in enumerate(items):
        cls = x.__class__
        if cls is dict:
            _flat(x, f"{prefix}{i}.", out)
        elif cls is list:
            _flat_list(x, f"{prefix}{i}.", out)
        else:
            out[f"{prefix}{i}"] = x


def discover(message: str) -> dict[str, Any] | None:
    """The scalar leaves of a JSON-object message by dotted path (data fields starting with `@` get another
    `@`, as Insights shows them), or None when the message is not a JSON object."""
    if not message.startswith("{"):
        s = message.lstrip()
        if not s.startswith("{"):
            return None
        message = s
    try:
        doc = orjson.loads(message)
    except orjson.JSONDecodeError:
        return None
    if doc.__class__ is not dict:
        return None
    out: dict[str, Any] = {}
    _flat(doc, "", out)
    if len(out) > MAX_FIELDS:
        out = dict(list(out.items())[:MAX_FIELDS])
    if any(k.startswith("@") for k in out):
        out = {("@" + k if k.startswith("@") else k): v for k, v in out.items()}
    return out


def columns(messages: list[str]) -> dict[str, list[Any]]:
    """Column per discovered path, aligned with `messages` (None where an event lacks the field).

    Hot path of ingestion: columns are found through a per-prefix dict, so a known field costs two dict
    lookups and no string building."""
    n = len(messages)
    cols: dict[str, list[Any]] = {}
    by_prefix: dict[str, dict[str, list[Any]]] = {}
    loads = orjson.loads

    def flat(obj: dict[str, Any], prefix: str, i: int) -> None:
        sub = by_prefix.get(prefix)
        if sub is None:
            sub = by_prefix[prefix] = {}
        for k, v in obj.items():
            cls = v.__class__
            if cls is dict:
                flat(v, (prefix + k if prefix or k[:1] != "@" else "@" + k) + ".", i)
            elif cls is list:
                flat_list(v, (prefix + k if prefix or k[:1] != "@" else "@" + k) + ".", i)
            else:
                col = sub.get(k)
                if col is None:
                    col = sub[k] = cols[prefix + k if prefix or k[:1] != "@" else "@" + k] = [None] * n
                col[i] = v

    def flat_list(items: list[Any], prefix: str, i: int) -> None:
        for j, x in enumerate(items):
            cls = x.__class__
            if cls is dict:
                flat(x, f"{prefix}{j}.", i)
            elif cls is list:
                flat_list(x, f"{prefix}{j}.", i)
            else:
                path = f"{prefix}{j}"
                col = cols.get(path)
                if col is None:
                    col = cols[path] = [None] * n
                col[i] = x

    for i, m in enumerate(messages):
        if m[:1] != "{":
            m = m.lstrip()
            if m[:1] != "{":
                continue
        try:
            doc = loads(m)
        except orjson.JSONDecodeError:
            continue
        if doc.__class__ is dict:
            flat(doc, "", i)
    if len(cols) > MAX_FIELDS:
        cols = dict(list(cols.items())[:MAX_FIELDS])
    return cols
