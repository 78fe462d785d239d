"""Logs Insights through StartQuery/GetQueryResults on a real region: a table of language cases with their
expected rows, malformed queries with positions, units, statuses and limits."""

from __future__ import annotations

import json
import statistics
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .conftest import rows, run_query, wait_query

HOUR = 3_600_000


def fmt(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}"


class Data:
    def __init__(self, group: str, t0: int) -> None:
        self.group, self.t0 = group, t0


EVENTS = [  # (offset ms from t0, stream, message)
    (0, "s1", {"eventName": "PutObject", "bytes": 100, "user": "alice", "ip": "10.0.0.5", "readOnly": False,
               "requestParameters": {"bucketName": "lab-crrlab-east", "key": "a.png"},
               "resources": [{"ARN": "arn:aws:s3:::lab-crrlab-east/a.png"}, {"ARN": "arn:aws:s3:::lab-crrlab-east"}]}),
    (60_000, "s1", {"eventName": "GetObject", "bytes": 250, "user": "bob", "ip": "192.168.1.9", "readOnly": True,
                    "requestParameters": {"bucketName": "lab-crrlab-east", "key": "b.txt"}}),
    (120_000, "s1", {"eventName": "PutObject", "bytes": 300, "user": "alice", "ip": "10.0.1.7", "readOnly": False,
                     "requestParameters": {"bucketName": "other", "key": "c.txt"}}),
    (300_000, "s1", {"eventName": "DeleteObject", "user": "carol", "ip": "2001:db8::1", "errorCode": "AccessDenied",
                     "requestParameters": {"bucketName": "lab-crrlab-east", "key": "a.png"}}),
    (360_000, "s2", "2025-01-01 ERROR [worker-3] user=dave action=login latency=42ms"),
    (420_000, "s2", "INFO [worker-1] user=erin action=logout latency=7ms"),
    (HOUR, "s1", {"eventName": "PutObject", "bytes": 50, "user": "bob", "ip": "10.0.0.9", "readOnly": False,
                  "@custom": "x", "requestParameters": {"bucketName": "lab-crrlab-east", "key": "d/e.png"}}),
]


@pytest.fixture(scope="module")
def data(logs: Any) -> Data:
    group = f"insights/{uuid.uuid4().hex[:10]}"
    t0 = (int(time.time() * 1000) - 3 * HOUR) // HOUR * HOUR
    logs.create_log_group(logGroupName=group)
    batches: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for i, (off, stream, msg) in enumerate(EVENTS):
        batch = 1 if off >= HOUR else 0  # two batches (chunks) in s1
        text = msg if isinstance(msg, str) else json.dumps(msg)
        batches.setdefault((stream, batch), []).append({"timestamp": t0 + off, "message": text})
    for (stream, _), events in batches.items():
        try:
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        except ClientError:
            pass
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
    return Data(group, t0)


def cases(d: Data) -> list[tuple[str, list[dict[str, str]]]]:
    t0 = d.t0
    sd = statistics.stdev([100, 250, 300, 50])
    return [
        ("filter eventName = 'PutObject' | fields requestParameters.key as key | sort key",
         [{"key": "a.png"}, {"key": "c.txt"}, {"key": "d/e.png"}]),
        ("stats count(*) as n by eventName | sort eventName",
         [{"eventName": "DeleteObject", "n": "1"}, {"eventName": "GetObject", "n": "1"},
          {"eventName": "PutObject", "n": "3"}, {"n": "2"}]),
        ("filter ispresent(bytes) | stats sum(bytes) as s, avg(bytes) as a, min(bytes) as mn, max(bytes) as mx, "
         "count(bytes) as c, count_distinct(user) as u",
         [{"s": "700", "a": "175", "mn": "50", "mx": "300", "c": "4", "u": "2"}]),
        ("filter ispresent(bytes) | stats pct(bytes, 50) as p50, pct(bytes, 100) as p100, stddev(bytes) as sd",
         [{"p50": "100", "p100": "300", "sd": repr(sd)}]),
        ("stats earliest(user) as first, latest(user) as last, count(*) as all, count(user) as withUser",
         [{"first": "alice", "last": "bob", "all": "7", "withUser": "5"}]),
        ("filter ispresent(user) | stats sortsFirst(user) as f, sortsLast(user) as l", [{"f": "alice", "l": "carol"}]),
        ("stats count(*) as n by bin(1h) | sort n desc",
         [{"bin(1h)": fmt(t0), "n": "6"}, {"bin(1h)": fmt(t0 + HOUR), "n": "1"}]),
        ("stats count(*) by bin(5m) as period | sort period",
         [{"period": fmt(t0), "count(*)": "3"}, {"period": fmt(t0 + 300_000), "count(*)": "3"},
          {"period": fmt(t0 + HOUR), "count(*)": "1"}]),
        ("stats count(*) as n by bin(1h)",  # without a sort, newest bin first
         [{"bin(1h)": fmt(t0 + HOUR), "n": "1"}, {"bin(1h)": fmt(t0), "n": "6"}]),
        ("filter ispresent(bytes) | stats sum(bytes) as s by bin(1h)",
         [{"bin(1h)": fmt(t0 + HOUR), "s": "50"}, {"bin(1h)": fmt(t0), "s": "650"}]),
        ("filter requestParameters.bucketName like 'crrlab' | stats count(*) as n", [{"n": "4"}]),
        ("filter user = 'nobody' | stats count(*) as n", [{"n": "0"}]),
        ("filter user = 'nobody' | stats count(*) as n by user", []),
        ("filter requestParameters.bucketName like'crrlab' | stats count(*) as n", [{"n": "4"}]),
        ("filter requestParameters.bucketName like /(?i)^LAB-/ | stats count(*) as n", [{"n": "4"}]),
        ("filter requestParameters.bucketName LIKE /^LAB-/ or user = 'nobody' | fields user", []),
        ("filter requestParameters.bucketName not like 'crrlab' | fields eventName", [{"eventName": "PutObject"}]),
        ("filter eventName =~ /Object$/ and eventName != 'PutObject' | fields eventName | sort eventName",
         [{"eventName": "DeleteObject"}, {"eventName": "GetObject"}]),
        ("filter eventName in ['GetObject', 'DeleteObject'] | fields user | sort user",
         [{"user": "bob"}, {"user": "carol"}]),
        ("filter eventName not in ['PutObject'] and ispresent(eventName) | stats count(*) as n", [{"n": "2"}]),
        ("filter bytes > 100 and bytes <= 300 | fields bytes | sort bytes desc", [{"bytes": "300"}, {"bytes": "250"}]),
        ("filter not (eventName = 'PutObject' or eventName = 'GetObject') and ispresent(eventName) | fields eventName",
         [{"eventName": "DeleteObject"}]),
        ("filter readOnly = false | stats count(*) as n", [{"n": "3"}]),
        ("filter ispresent(bytes) | fields bytes * 2 + 1 as x, bytes / 4 as q, bytes % 7 as m, 2 ^ 3 as p, -bytes as neg"
         " | sort bytes asc | limit 1", [{"x": "101", "q": "12.5", "m": "1", "p": "8", "neg": "-50"}]),
        ("parse @message '* [*] user=* action=* latency=*ms' as lead, worker, u, action, ms | filter ispresent(u) "
         "| fields lead, worker, u, action, ms | sort u",
         [{"lead": "2025-01-01 ERROR", "worker": "worker-3", "u": "dave", "action": "login", "ms": "42"},
          {"lead": "INFO", "worker": "worker-1", "u": "erin", "action": "logout", "ms": "7"}]),
        ("parse @message /user=(?<u>\\w+) action=(?<a>\\w+)/ | filter ispresent(u) | stats count(*) as n by a | sort a",
         [{"a": "login", "n": "1"}, {"a": "logout", "n": "1"}]),
        ("parse @message 'latency=*ms' as ms | filter ms > 10 | fields ms", [{"ms": "42"}]),
        ("filter user = 'carol' | fields toupper(user) as U, strlen(user) as L, concat(user, '-', eventName) as C, "
         "substr(eventName, 0, 6) as S, replace(eventName, 'Object', 'Obj') as R, strcontains(eventName, 'Del') as H,"
         " trim('  x  ') as T, ltrim('xxa', 'x') as LT, rtrim('ayy', 'y') as RT, tolower('AbC') as lo, "
         "isempty(errorCode) as E, isempty(nothing) as E2, isblank(' ') as B",
         [{"U": "CAROL", "L": "5", "C": "carol-DeleteObject", "S": "Delete", "R": "DeleteObj", "H": "1", "T": "x",
           "LT": "a", "RT": "a", "lo": "abc", "E": "0", "E2": "1", "B": "1"}]),
        ("filter user = 'carol' | fields abs(-3) as a, ceil(2.1) as c, floor(2.9) as f, greatest(1, 5, 3) as g, "
         "least(4, 2) as l, sqrt(16) as s, log(1) as ln",
         [{"a": "3", "c": "3", "f": "2", "g": "5", "l": "2", "s": "4", "ln": "0"}]),
        ("filter user = 'carol' | fields datefloor(@timestamp, 1h) as h, dateceil(@timestamp, 1h) as hc, "
         "toMillis(@timestamp) as ms, fromMillis(0) as z, datefloor(@timestamp, 1d) as d",
         [{"h": fmt(t0), "hc": fmt(t0 + HOUR), "ms": str(t0 + 300_000), "z": "1970-01-01 00:00:00.000",
           "d": fmt(t0 - t0 % 86_400_000)}]),
        ("filter ispresent(ip) | fields user, isValidIp(ip) as v, isValidIpV4(ip) as v4, isValidIpV6(ip) as v6, "
         "isIpInSubnet(ip, '10.0.0.0/16') as sub, isIpv6InSubnet(ip, '2001:db8::/32') as sub6 | sort @timestamp asc",
         [{"user": "alice", "v": "1", "v4": "1", "v6": "0", "sub": "1", "sub6": "0"},
          {"user": "bob", "v": "1", "v4": "1", "v6": "0", "sub": "0", "sub6": "0"},
          {"user": "alice", "v": "1", "v4": "1", "v6": "0", "sub": "1", "sub6": "0"},
          {"user": "carol", "v": "1", "v4": "0", "v6": "1", "sub": "0", "sub6": "1"},
          {"user": "bob", "v": "1", "v4": "1", "v6": "0", "sub": "1", "sub6": "0"}]),
        ("fields coalesce(errorCode, eventName, 'none') as c | sort @timestamp asc",
         [{"c": v} for v in ("PutObject", "GetObject", "PutObject", "AccessDenied", "none", "none", "PutObject")]),
        ("filter ispresent(resources.1.ARN) | fields resources.0.ARN as first, resources.1.ARN as second",
         [{"first": "arn:aws:s3:::lab-crrlab-east/a.png", "second": "arn:aws:s3:::lab-crrlab-east"}]),
        ("filter ispresent(user) | fields user | sort @timestamp desc | dedup user",
         [{"user": "bob"}, {"user": "carol"}, {"user": "alice"}]),
        ("fields user, eventName | filter ispresent(user) | display eventName | sort @timestamp asc | limit 2",
         [{"eventName": "PutObject"}, {"eventName": "GetObject"}]),
        ("filter user = 'carol' | fields @logStream, @log, @timestamp, @ingestionTime > @timestamp as later",
         [{"@logStream": "s1", "@log": f"123456789012:{d.group}", "@timestamp": fmt(t0 + 300_000),
           "later": "true"}]),
        ("filter ispresent(@@custom) | fields @@custom as c", [{"c": "x"}]),
        ("filter user = 'carol' | fields @timestamp as t", [{"t": fmt(t0 + 300_000)}]),
        ("filter ispresent(user) | stats max(@timestamp) as last, earliest(@timestamp) as first by user | sort user",
         [{"user": "alice", "last": fmt(t0 + 120_000), "first": fmt(t0)},
          {"user": "bob", "last": fmt(t0 + HOUR), "first": fmt(t0 + 60_000)},
          {"user": "carol", "last": fmt(t0 + 300_000), "first": fmt(t0 + 300_000)}]),
        ("filter ispresent(`requestParameters.key`) | stats count(*) as n", [{"n": "5"}]),
        ("filter ispresent(user) | stats count(*) as n by user | stats count(*) as users", [{"users": "3"}]),
        ("filter ispresent(user) | fields user | limit 2", [{"user": "bob"}, {"user": "carol"}]),
        ("sort @timestamp desc | filter user = 'carol' | fields user | limit 1", [{"user": "carol"}]),
        ("sort @timestamp desc | dedup user | filter ispresent(user) | fields user | limit 2",
         [{"user": "bob"}, {"user": "carol"}]),
        ("filter ispresent(user) | fields user, bytes | sort user asc, bytes desc",
         [{"user": "alice", "bytes": "300"}, {"user": "alice", "bytes": "100"}, {"user": "bob", "bytes": "250"},
          {"user": "bob", "bytes": "50"}, {"user": "carol"}]),
        ("stats count(*) as n by eventName, user | sort n desc, eventName asc | limit 2",
         [{"eventName": "PutObject", "user": "alice", "n": "2"}, {"n": "2"}]),
        ("filter @message like /ERROR/ | fields @message",
         [{"@message": "2025-01-01 ERROR [worker-3] user=dave action=login latency=42ms"}]),
        ("# a comment line\nFIELDS user\n| FILTER user = \"bob\" AND bytes >= 250 | SORT user DESC", [{"user": "bob"}]),
        ("filter ispresent(bytes) | stats sum(bytes) / count(*) as mean, max(bytes) - min(bytes) as spread",
         [{"mean": "175", "spread": "250"}]),
    ]


def test_query_language_cases(logs: Any, data: Data) -> None:
    failures = []
    for query, expected in cases(data):
        got = rows(run_query(logs, data.group, query))
        if got != expected:
            failures.append(f"{query}\n   expected {expected}\n   got      {got}")
    assert not failures, "\n".join(failures)


def test_default_fields_and_ptr(logs: Any, data: Data) -> None:
    res = run_query(logs, data.group, "filter user = 'carol'")
    (row,) = res["results"]
    assert [c["field"] for c in row] == ["@timestamp", "@message", "@ptr"]
    assert json.loads(row[1]["value"])["user"] == "carol"
    stats = run_query(logs, data.group, "stats count(*) as n")
    assert [c["field"] for c in stats["results"][0]] == ["n"]  # aggregated rows carry no @ptr
    s = res["statistics"]
    assert s["recordsScanned"] == 7.0 and s["recordsMatched"] == 1.0 and s["bytesScanned"] > 0


def test_start_query_time_units(logs: Any, data: Data) -> None:
    t0s = data.t0 // 1000
    res = run_query(logs, data.group, "fields user | sort @timestamp asc", start_s=t0s, end_s=t0s + 120)
    assert rows(res) == [{"user": "alice"}, {"user": "bob"}, {"user": "alice"}]  # endTime inclusive, seconds
    res = run_query(logs, data.group, "fields user", start_s=data.t0, end_s=data.t0 + 120_000)
    assert rows(res) == []  # milliseconds read as seconds: a window far in the future
    with pytest.raises(ClientError) as e:
        logs.start_query(logGroupName=data.group, startTime=t0s, endTime=t0s - 1, queryString="fields a")
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"


def test_query_limit_parameter_and_multiple_groups(logs: Any, data: Data, group: str) -> None:
    res = run_query(logs, data.group, "fields user", limit=2)
    assert len(res["results"]) == 2
    logs.create_log_stream(logGroupName=group, logStreamName="x")
    logs.put_log_events(logGroupName=group, logStreamName="x",
                        logEvents=[{"timestamp": data.t0 + 1, "message": json.dumps({"user": "zed"})}])
    res = run_query(logs, [data.group, group], "filter ispresent(user) | stats count(*) as n by @log | sort n")
    assert rows(res) == [{"@log": f"123456789012:{group}", "n": "1"}, {"@log": f"123456789012:{data.group}", "n": "5"}]
    arn = f"arn:aws:logs:us-east-2:123456789012:log-group:{group}"
    res = wait_query(logs, logs.start_query(logGroupIdentifiers=[arn], startTime=data.t0 // 1000 - 10,
                                            endTime=int(time.time()), queryString="fields user")["queryId"])
    assert rows(res) == [{"user": "zed"}]


def test_query_errors(logs: Any, raw_logs: Any, data: Data) -> None:
    now = int(time.time())
    with pytest.raises(ClientError) as e:
        logs.start_query(logGroupName=data.group + "-missing", startTime=now - 60, endTime=now, queryString="fields a")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        raw_logs.start_query(logGroupNames=[data.group] * 51, startTime=now - 60, endTime=now, queryString="fields a")
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        raw_logs.start_query(logGroupName=data.group, logGroupNames=[data.group], startTime=now - 60, endTime=now,
                             queryString="fields a")
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        logs.get_query_results(queryId=str(uuid.uuid4()))
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


MALFORMED = [  # (query, startCharOffset of the error)
    ("fields a,, b", 9),
    ("filter (a = 1", 13),
    ("stats foo(x)", 6),
    ("limit x", 6),
    ("filter a = 'x", 11),
    ("stats count(*) by", 17),
    ("sort @timestamp desc | nonsense x", 23),
    ("fields x | stats avg(x) | filter", 32),
    ("filter x like", 13),
    ("parse @message 'a*b*' as x", 15),
    ("stats count(*) by bin(5parsecs)", 22),
    ("fields substr(x)", 7),
    ("filter x = 1 | pattern @message", 15),
    ("fields a\n| filter b ==", 21),
    ("fields count(*)", 0),
    ("stats x", 6),
    ("| |", 3),
]


@pytest.mark.parametrize("query,offset", MALFORMED)
def test_malformed_queries(logs: Any, data: Data, query: str, offset: int) -> None:
    now = int(time.time())
    with pytest.raises(ClientError) as e:
        logs.start_query(logGroupName=data.group, startTime=now - 60, endTime=now, queryString=query)
    resp = e.value.response
    assert resp["Error"]["Code"] == "MalformedQueryException"
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 400
    err = resp["queryCompileError"]
    assert err["location"]["startCharOffset"] == offset
    assert err["location"]["endCharOffset"] >= offset
    line = query.count("\n", 0, offset) + 1
    col = offset - (query.rfind("\n", 0, offset) + 1) + 1
    assert f"line {line}, position {col}" in err["message"] or offset == 0


def test_status_stop_and_describe(logs: Any, data: Data) -> None:
    now = int(time.time())
    qid = logs.start_query(logGroupName=data.group, startTime=now - 86400, endTime=now + 60,
                           queryString="stats count(*) as n")["queryId"]
    first = logs.get_query_results(queryId=qid)["status"]
    assert first in ("Scheduled", "Running", "Complete")
    res = wait_query(logs, qid)
    assert res["status"] == "Complete" and rows(res) == [{"n": "7"}]
    assert set(res["statistics"]) >= {"recordsMatched", "recordsScanned", "bytesScanned"}
    with pytest.raises(ClientError) as e:  # already ended: an error, as the API documents
        logs.stop_query(queryId=qid)
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    listed = logs.describe_queries(logGroupName=data.group)["queries"]
    mine = next(q for q in listed if q["queryId"] == qid)
    assert mine["status"] == "Complete" and mine["queryString"] == "stats count(*) as n"
    assert mine["logGroupName"] == data.group and abs(mine["createTime"] - now * 1000) < 120_000
    assert all(q["status"] == "Complete" for q in logs.describe_queries(status="Complete")["queries"])


def test_source_command(logs: Any) -> None:
    base = f"src/{uuid.uuid4().hex[:8]}"
    t = int(time.time() * 1000) - 60_000
    for i, name in enumerate((f"{base}/a", f"{base}/b", f"{base}x/c")):
        logs.create_log_group(logGroupName=name)
        logs.create_log_stream(logGroupName=name, logStreamName="s")
        logs.put_log_events(logGroupName=name, logStreamName="s",
                            logEvents=[{"timestamp": t + j, "message": json.dumps({"n": j})} for j in range(i + 1)])
    now = int(time.time())
    q = f"SOURCE logGroups(namePrefix: ['{base}/', 'nothing-{base}'], class: 'STANDARD') | stats count(*) as n by @log"
    res = wait_query(logs, logs.start_query(startTime=now - 3600, endTime=now + 60,
                                            queryString=q + " | sort @log")["queryId"])
    assert rows(res) == [{"@log": f"123456789012:{base}/a", "n": "1"}, {"@log": f"123456789012:{base}/b", "n": "2"}]
    with pytest.raises(ClientError) as e:  # SOURCE and a log group parameter together
        logs.start_query(logGroupName=f"{base}/a", startTime=now - 3600, endTime=now, queryString=q)
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        logs.start_query(startTime=now - 3600, endTime=now, queryString="fields a")
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        logs.start_query(startTime=now - 3600, endTime=now,
                         queryString=f"SOURCE logGroups(namePrefix: 'x{base}') | fields a")
    assert e.value.response["Error"]["Code"] == "MalformedQueryException"
    with pytest.raises(ClientError) as e:
        logs.start_query(startTime=now - 3600, endTime=now,
                         queryString=f"SOURCE logGroups(namePrefix: ['none-{base}']) | fields a")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
