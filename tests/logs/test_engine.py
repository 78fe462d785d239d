"""The query engine alone, over an in-memory source: the column-at-a-time path and the row path give the same
answers as the end-to-end table, and the parser's leniencies and errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from twinstore.logs.flatten import columns
from twinstore.logs.query import QuerySyntaxError, parse_query
from twinstore.logs.query.executor import execute, prepare
from twinstore.logs.query.source import ChunkRef

from .test_insights import EVENTS, Data, cases
from .test_lab_query import LAB_QUERY

T0 = 1_700_000_000_000 // 3_600_000 * 3_600_000
GROUP = "insights/engine"


class ListSource:
    """Each (stream, hour) batch of EVENTS is one chunk, as PutLogEvents batches are in the store."""

    def __init__(self) -> None:
        batches: dict[tuple[str, int], list[tuple[int, str]]] = {}
        for off, stream, msg in EVENTS:
            text = msg if isinstance(msg, str) else json.dumps(msg)
            batches.setdefault((stream, off // 3_600_000), []).append((T0 + off, text))
        self.chunks_ = [(stream, evs) for (stream, _), evs in batches.items()]

    def chunks(self) -> list[ChunkRef]:
        return [ChunkRef(i, evs[0][0], evs[-1][0], len(evs), 100) for i, (_, evs) in enumerate(self.chunks_)]

    def columns(self, chunk: ChunkRef, fields: list[str], system: set[str],
                with_message: bool) -> tuple[dict[str, Any], int]:
        stream, evs = self.chunks_[chunk.key]
        n = len(evs)
        found = columns([m for _, m in evs])
        cols: dict[str, Any] = {"@timestamp": [t for t, _ in evs], "#id": [chunk.key * 100 + i for i in range(n)]}
        cols.update({f: found[f] for f in fields if f in found})
        if with_message:
            cols["@message"] = [m for _, m in evs]
        if "@logStream" in system:
            cols["@logStream"] = [stream] * n
        if "@log" in system:
            cols["@log"] = [f"123456789012:{GROUP}"] * n
        if "@ingestionTime" in system:
            cols["@ingestionTime"] = [t + 5 for t, _ in evs]
        return cols, n

    def messages(self, ids: list[int]) -> dict[int, str]:
        return {i: self.chunks_[i // 100][1][i % 100][1] for i in ids}

    def ptr(self, event_id: int) -> str:
        return f"ptr{event_id}"


def run(query: str, vector: bool = True) -> list[dict[str, str]]:
    plan = prepare(parse_query(query))
    if not vector:
        plan.vfilters, plan.vstats = None, None
    res = execute(plan, ListSource())
    return [{c["field"]: c["value"] for c in row if c["field"] != "@ptr"} for row in res.rows]


@pytest.mark.parametrize("vector", [True, False], ids=["columns", "rows"])
def test_cases_both_paths(vector: bool) -> None:
    failures = []
    for query, expected in cases(Data(GROUP, T0)):
        got = run(query, vector)
        if got != expected:
            failures.append(f"{query}\n   expected {expected}\n   got      {got}")
    assert not failures, "\n".join(failures)


def test_lab_query_parses_to_one_field_list() -> None:
    q = parse_query(LAB_QUERY)
    kinds = [type(c).__name__ for c in q.commands]
    assert kinds == ["Fields", "Filter", "Sort", "Limit"]
    assert [it.name for it in q.commands[0].items] == ["@timestamp", "key", "bucket", "invokedBy", "arn", "UserName"]


@pytest.mark.parametrize("query", [
    "fields a | filter b like'x'", "FIELDS a AS b | SORT b DESC | LIMIT 5", "filter a.b.0.c = 1",
    "fields `weird-name` as w", "filter x =~ /a\\/b/", "stats count() by bin(30sec), bin(2hrs) as h",
    "filter a in [1, 'b', 2.5] and b not in []", "parse @message /(?<x>\\d+)/ | filter x > 5",
    "fields 1 / 2 as half | filter half < 1", "filter not a and not (b or c)", "fields @timestamp,\n| a,\n| b,",
])
def test_accepted_queries(query: str) -> None:
    prepare(parse_query(query))


@pytest.mark.parametrize("query,message", [
    ("fields a,, b", "unexpected symbol ','"),
    ("stats avg(x) by", "expecting a field"),
    ("filter count(*) > 1", "only valid in stats"),
    ("stats sum(sum(x))", "cannot be nested"),
    ("filter a = 1 | dedup", "expecting a field"),
    ("fields a | unmask", "not supported"),
    ("parse @message /(\\d+)/", "named capture groups"),
])
def test_rejected_queries(query: str, message: str) -> None:
    with pytest.raises((QuerySyntaxError, ValueError)) as e:
        prepare(parse_query(query))
    assert message in str(e.value)
