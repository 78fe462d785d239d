"""FilterLogEvents filter patterns (a table), and retention: expired events are never returned and are deleted."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .conftest import now_ms, rows, run_query

MESSAGES = [
    "ERROR Out of memory in worker 3",
    "WARN disk almost full",
    "INFO request served in 12ms",
    "ERROR timeout contacting db",
    json.dumps({"eventName": "PutObject", "bytes": 100, "user": {"name": "alice"}, "tags": ["a", "b"], "ok": True,
                "err": None}),
    json.dumps({"eventName": "GetObject", "bytes": 2048, "user": {"name": "bob"}, "tags": ["c"], "ok": False}),
    json.dumps({"eventName": "PutBucketPolicy", "bytes": 5, "user": {"name": "carol"}}),
]

PATTERNS = [
    ("", [0, 1, 2, 3, 4, 5, 6]),
    ("ERROR", [0, 3]),
    ("ERROR memory", [0]),
    ('"Out of memory"', [0]),
    ('"out of memory"', []),
    ("?WARN ?timeout", [1, 3]),
    ("ERROR -timeout", [0]),
    ("%[0-9]+ms%", [2]),
    ('{ $.eventName = "PutObject" }', [4]),
    ('{$.eventName="Put*"}', [4, 6]),
    ('{ $.eventName != "PutObject" }', [5, 6]),
    ("{ $.eventName = PutObject }", [4]),
    ("{ $.bytes > 1000 }", [5]),
    ("{ $.bytes >= 5 && $.bytes < 1000 }", [4, 6]),
    ('{ ($.eventName = "GetObject") || ($.user.name = "carol") }', [5, 6]),
    ('{ $.tags[0] = "c" }', [5]),
    ("{ $.ok IS TRUE }", [4]),
    ("{ $.ok IS FALSE }", [5]),
    ("{ $.err IS NULL }", [4]),
    ("{ $.user.age NOT EXISTS }", [4, 5, 6]),
]


@pytest.fixture(scope="module")
def pattern_group(logs: Any) -> str:
    name = f"patterns/{int(time.time() * 1000)}"
    logs.create_log_group(logGroupName=name)
    logs.create_log_stream(logGroupName=name, logStreamName="s")
    t = now_ms() - 60_000
    logs.put_log_events(logGroupName=name, logStreamName="s",
                        logEvents=[{"timestamp": t + i, "message": m} for i, m in enumerate(MESSAGES)])
    return name


@pytest.mark.parametrize("pattern,expected", PATTERNS)
def test_filter_patterns(logs: Any, pattern_group: str, pattern: str, expected: list[int]) -> None:
    got = logs.filter_log_events(logGroupName=pattern_group, filterPattern=pattern)["events"]
    assert [e["message"] for e in got] == [MESSAGES[i] for i in expected]


@pytest.mark.parametrize("pattern", ['{ $.eventName = ', '{ eventName = "x" }', '{ $.a = "x" ', '"unterminated'])
def test_invalid_filter_patterns(logs: Any, pattern_group: str, pattern: str) -> None:
    with pytest.raises(ClientError) as e:
        logs.filter_log_events(logGroupName=pattern_group, filterPattern=pattern)
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"


def test_retention_enforced(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    t = now_ms()
    day = 86_400_000
    since = (t - 3 * day) // 1000
    old = [{"timestamp": t - 2 * day + i, "message": json.dumps({"age": "old", "i": i})} for i in range(50)]
    new = [{"timestamp": t - 60_000 + i, "message": json.dumps({"age": "new", "i": i})} for i in range(5)]
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=old)
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=new)
    stored_before = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["storedBytes"]
    assert stored_before > 0
    assert rows(run_query(logs, group, "stats count(*) as n by age | sort age", start_s=since)) == [
        {"age": "new", "n": "5"}, {"age": "old", "n": "50"}]

    logs.put_retention_policy(logGroupName=group, retentionInDays=1)
    # expired events are never returned, whether or not the sweeper has run yet
    assert rows(run_query(logs, group, "stats count(*) as n by age", start_s=since)) == [{"age": "new", "n": "5"}]
    assert len(logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True)["events"]) == 5
    assert len(logs.filter_log_events(logGroupName=group)["events"]) == 5
    # the background task deletes them: stored bytes shrink, and lifting the policy brings nothing back
    deadline = time.monotonic() + 30
    while logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["storedBytes"] >= stored_before:
        assert time.monotonic() < deadline, "expired events were not deleted"
        time.sleep(0.2)
    logs.delete_retention_policy(logGroupName=group)
    assert len(logs.filter_log_events(logGroupName=group)["events"]) == 5
    assert rows(run_query(logs, group, "stats count(*) as n", start_s=since)) == [{"n": "5"}]
