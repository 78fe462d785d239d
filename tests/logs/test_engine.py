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

    def __init__(self, events: list[tuple[int, str, Any]] = EVENTS) -> None:
        batches: dict[tuple[str, int], list[tuple[int, str]]] = {}
        for off, stream, msg in events:
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


def run(query: str, vector: bool = True, source: ListSource | None = None) -> list[dict[str, str]]:
    plan = prepare(parse_query(query))
    if not vector:
        plan.vfilters, plan.vstats = None, None
    res = execute(plan, source or ListSource())
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
    "fields a | unmask | limit 3",
])
def test_accepted_queries(query: str) -> None:
    prepare(parse_query(query))


@pytest.mark.parametrize("query,message", [
    ("fields a,, b", "unexpected symbol ','"),
    ("stats avg(x) by", "expecting a field"),
    ("filter count(*) > 1", "only valid in stats"),
    ("stats sum(sum(x))", "cannot be nested"),
    ("filter a = 1 | dedup", "expecting a field"),
    ("fields a | pattern @message", "not supported"),
    ("parse @message /(\\d+)/", "named capture groups"),
])
def test_rejected_queries(query: str, message: str) -> None:
    with pytest.raises((QuerySyntaxError, ValueError)) as e:
        prepare(parse_query(query))
    assert message in str(e.value)


def test_many_chunks_sort_bound_and_streaming_stats() -> None:
    # 20 hourly chunks of 300 events: sorts keep only what the limit shows, stats aggregate chunk by chunk
    events = [(h * 3_600_000 + i, "s", {"n": (h * 300 + i) * 7919 % 6000, "g": f"g{i % 3}"})
              for h in range(20) for i in range(300)]
    src = ListSource(events)
    ns = sorted((m["n"] for _, _, m in events), reverse=True)
    for vector in (True, False):
        assert run("sort n desc | limit 3 | display n", vector, src) == [{"n": str(v)} for v in ns[:3]]
        assert run("filter n >= 0 | sort n asc | limit 2 | display n", vector, src) == [{"n": "0"}, {"n": "1"}]
        got = run("stats avg(n) as a, count(*) as c, max(n) as mx by g | sort g", vector, src)
        for row, g in zip(got, ("g0", "g1", "g2")):
            vals = [m["n"] for _, _, m in events if m["g"] == g]
            assert row == {"g": g, "a": str(sum(vals) / len(vals)).removesuffix(".0"), "c": str(len(vals)),
                           "mx": str(max(vals))}
