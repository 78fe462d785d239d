"""CloudWatch Logs API operations through boto3 and the AWS CLI against a real region process."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .conftest import now_ms


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def put(logs: Any, group: str, stream: str, events: list[tuple[int, str]]) -> dict[str, Any]:
    return dict(logs.put_log_events(logGroupName=group, logStreamName=stream,
                                    logEvents=[{"timestamp": t, "message": m} for t, m in events]))


def test_log_group_lifecycle(logs: Any) -> None:
    name = f"CloudTrail/logs/{uuid.uuid4().hex[:10]}"
    before = now_ms()
    logs.create_log_group(logGroupName=name, tags={"team": "lab"})
    with pytest.raises(ClientError) as e:
        logs.create_log_group(logGroupName=name)
    assert code(e) == "ResourceAlreadyExistsException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert len(groups) == 1
    g = groups[0]
    assert g["logGroupName"] == name
    assert g["arn"] == f"arn:aws:logs:us-east-2:123456789012:log-group:{name}:*"
    assert g["logGroupArn"] == f"arn:aws:logs:us-east-2:123456789012:log-group:{name}"
    assert before - 1000 <= g["creationTime"] <= now_ms() + 1000
    assert "retentionInDays" not in g and g["storedBytes"] == 0 and g["logGroupClass"] == "STANDARD"
    logs.put_retention_policy(logGroupName=name, retentionInDays=30)
    assert logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]["retentionInDays"] == 30
    logs.delete_retention_policy(logGroupName=name)
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]
    logs.delete_log_group(logGroupName=name)
    assert logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"] == []
    with pytest.raises(ClientError) as e:
        logs.delete_log_group(logGroupName=name)
    assert code(e) == "ResourceNotFoundException"
    assert e.value.response["Error"]["Message"] == "The specified log group does not exist."


@pytest.mark.parametrize("name", ["has space", "bad:colon", "x" * 513, "star*"])
def test_invalid_log_group_names(raw_logs: Any, name: str) -> None:
    with pytest.raises(ClientError) as e:
        raw_logs.create_log_group(logGroupName=name)
    assert code(e) == "InvalidParameterException"


def test_describe_log_groups_paging_and_pattern(logs: Any) -> None:
    prefix = f"page/{uuid.uuid4().hex[:8]}/"
    names = [f"{prefix}g{i:02d}" for i in range(7)]
    for n in names:
        logs.create_log_group(logGroupName=n)
    seen, token = [], None
    while True:
        kw = {"nextToken": token} if token else {}
        page = logs.describe_log_groups(logGroupNamePrefix=prefix, limit=3, **kw)
        assert len(page["logGroups"]) <= 3
        seen += [g["logGroupName"] for g in page["logGroups"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == names
    hits = logs.describe_log_groups(logGroupNamePattern=prefix.split("/")[1])["logGroups"]
    assert [g["logGroupName"] for g in hits] == names  # pattern: case-sensitive substring
    assert set(hits[0]) == {"logGroupName", "creationTime", "arn"}  # and only these fields
    assert logs.describe_log_groups(logGroupNamePattern=prefix.upper())["logGroups"] == []


def test_retention_values(logs: Any, raw_logs: Any, group: str) -> None:
    for bad in (2, 0, 4000):
        with pytest.raises(ClientError) as e:
            raw_logs.put_retention_policy(logGroupName=group, retentionInDays=bad)
        assert code(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        logs.put_retention_policy(logGroupName=group + "-missing", retentionInDays=7)
    assert code(e) == "ResourceNotFoundException"
    logs.put_retention_policy(logGroupName=group, retentionInDays=3653)


def test_log_streams(logs: Any, raw_logs: Any, group: str) -> None:
    t = now_ms()
    for name in ("b-stream", "a-stream", "c-other"):
        logs.create_log_stream(logGroupName=group, logStreamName=name)
    with pytest.raises(ClientError) as e:
        logs.create_log_stream(logGroupName=group, logStreamName="a-stream")
    assert code(e) == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as e:
        logs.create_log_stream(logGroupName=group + "-nope", logStreamName="x")
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        raw_logs.create_log_stream(logGroupName=group, logStreamName="bad:name")
    assert code(e) == "InvalidParameterException"
    put(logs, group, "c-other", [(t - 5000, "old")])
    put(logs, group, "a-stream", [(t - 1000, "new")])
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["a-stream", "b-stream", "c-other"]
    a = streams[0]
    assert a["arn"] == f"arn:aws:logs:us-east-2:123456789012:log-group:{group}:log-stream:a-stream"
    assert a["firstEventTimestamp"] == a["lastEventTimestamp"] == t - 1000
    assert a["storedBytes"] == 3 and "firstEventTimestamp" not in streams[1]
    pref = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="c")["logStreams"]
    assert [s["logStreamName"] for s in pref] == ["c-other"]
    by_time = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)["logStreams"]
    assert [s["logStreamName"] for s in by_time] == ["a-stream", "c-other", "b-stream"]
    with pytest.raises(ClientError) as e:
        logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", logStreamNamePrefix="a")
    assert code(e) == "InvalidParameterException"
    arn = f"arn:aws:logs:us-east-2:123456789012:log-group:{group}"
    assert len(logs.describe_log_streams(logGroupIdentifier=arn)["logStreams"]) == 3
    paged = logs.describe_log_streams(logGroupName=group, limit=2)
    assert len(paged["logStreams"]) == 2 and paged["nextToken"]
    rest = logs.describe_log_streams(logGroupName=group, limit=2, nextToken=paged["nextToken"])
    assert [s["logStreamName"] for s in rest["logStreams"]] == ["c-other"] and "nextToken" not in rest
    logs.delete_log_stream(logGroupName=group, logStreamName="b-stream")
    assert len(logs.describe_log_streams(logGroupName=group)["logStreams"]) == 2


def test_put_log_events_validation(logs: Any, raw_logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    t = now_ms()
    with pytest.raises(ClientError) as e:
        put(logs, group, "missing-stream", [(t, "x")])
    assert code(e) == "ResourceNotFoundException"
    assert e.value.response["Error"]["Message"] == "The specified log stream does not exist."
    with pytest.raises(ClientError) as e:
        put(logs, group + "-missing", "s", [(t, "x")])
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        put(logs, group, "s", [(t, "second"), (t - 10, "first")])
    assert code(e) == "InvalidParameterException"
    assert "chronological" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:  # 1,048,576 bytes including 26 per event
        put(logs, group, "s", [(t, "x" * 600_000), (t, "y" * 600_000)])
    assert code(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        put(logs, group, "s", [(t - 25 * 3_600_000, "a"), (t, "b")])
    assert code(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        raw_logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[])
    assert code(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        raw_logs.put_log_events(logGroupName=group, logStreamName="s",
                                logEvents=[{"timestamp": t, "message": "x"}] * 10_001)
    assert code(e) == "InvalidParameterException"
    # none of the failed batches stored anything
    assert logs.get_log_events(logGroupName=group, logStreamName="s")["events"] == []
    ok = put(logs, group, "s", [(t, "x" * 524_000), (t, "y" * 524_000)])  # just under the limit
    assert "rejectedLogEventsInfo" not in ok and ok["nextSequenceToken"]


def test_rejected_log_events(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    t = now_ms()
    day = 86_400_000
    hour = 3_600_000
    res = put(logs, group, "s", [(t - 14 * day - hour, "too old 0"), (t - 14 * day - hour + 1, "too old 1"),
                                 (t - 14 * day + hour, "ok 2")])
    assert res["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1}
    res = put(logs, group, "s", [(t - 1000, "ok 3"), (t + 3 * hour, "too new 4"), (t + 4 * hour, "too new 5")])
    assert res["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 1}
    # the 24 h span counts only the valid events: a too-old one does not fail the batch
    res = put(logs, group, "s", [(t - 20 * day, "too old"), (t - 900, "ok 4")])
    assert res["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0}
    got = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True)["events"]
    assert [e["message"] for e in got] == ["ok 2", "ok 3", "ok 4"]
    logs.put_retention_policy(logGroupName=group, retentionInDays=1)
    res = put(logs, group, "s", [(t - day - 10_000, "expired 0"), (t - 20_000, "ok 1")])
    assert res["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 0}


def test_get_log_events_order_and_tokens(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    t = now_ms() - 60_000
    put(logs, group, "s", [(t + i, f"m{i}") for i in range(5)])
    put(logs, group, "s", [(t + 2, "m2b"), (t + 10, "m10")])  # a later batch interleaves in time
    e = logs.get_log_events(logGroupName=group, logStreamName="s")
    msgs = [x["message"] for x in e["events"]]
    assert msgs == ["m0", "m1", "m2", "m2b", "m3", "m4", "m10"]
    assert all(x["ingestionTime"] >= x["timestamp"] for x in e["events"])
    # default (startFromHead false) returns the newest `limit`, oldest first
    tail = logs.get_log_events(logGroupName=group, logStreamName="s", limit=2)
    assert [x["message"] for x in tail["events"]] == ["m4", "m10"]
    back = logs.get_log_events(logGroupName=group, logStreamName="s", limit=2, nextToken=tail["nextBackwardToken"])
    assert [x["message"] for x in back["events"]] == ["m2b", "m3"]
    head = logs.get_log_events(logGroupName=group, logStreamName="s", limit=3, startFromHead=True)
    assert [x["message"] for x in head["events"]] == ["m0", "m1", "m2"]
    nxt = logs.get_log_events(logGroupName=group, logStreamName="s", limit=3, nextToken=head["nextForwardToken"])
    assert [x["message"] for x in nxt["events"]] == ["m2b", "m3", "m4"]
    last = logs.get_log_events(logGroupName=group, logStreamName="s", limit=3, nextToken=nxt["nextForwardToken"])
    assert [x["message"] for x in last["events"]] == ["m10"]
    end = logs.get_log_events(logGroupName=group, logStreamName="s", limit=3, nextToken=last["nextForwardToken"])
    assert end["events"] == [] and end["nextForwardToken"] == last["nextForwardToken"]  # same token at the end
    window = logs.get_log_events(logGroupName=group, logStreamName="s", startTime=t + 1, endTime=t + 3,
                                 startFromHead=True)
    assert [x["message"] for x in window["events"]] == ["m1", "m2", "m2b"]  # endTime exclusive
    with pytest.raises(ClientError) as ex:
        logs.get_log_events(logGroupName=group, logStreamName="nope")
    assert code(ex) == "ResourceNotFoundException"


def test_filter_log_events_paging_and_streams(logs: Any, group: str) -> None:
    t = now_ms() - 60_000
    for s in ("app-1", "app-2", "web"):
        logs.create_log_stream(logGroupName=group, logStreamName=s)
    put(logs, group, "app-1", [(t + i, f"ERROR app-1 {i}" if i % 2 else f"INFO app-1 {i}") for i in range(10)])
    put(logs, group, "app-2", [(t + 100 + i, f"ERROR app-2 {i}") for i in range(3)])
    put(logs, group, "web", [(t + 200, "ERROR web")])
    got, token, pages = [], None, 0
    while True:
        kw = {"nextToken": token} if token else {}
        page = logs.filter_log_events(logGroupName=group, filterPattern="ERROR", limit=3, **kw)
        got += page["events"]
        pages += 1
        token = page.get("nextToken")
        if not token:
            break
    assert [e["message"] for e in got] == [f"ERROR app-1 {i}" for i in (1, 3, 5, 7, 9)] + \
        [f"ERROR app-2 {i}" for i in range(3)] + ["ERROR web"]
    assert pages >= 3 and len({e["eventId"] for e in got}) == len(got)
    assert {e["logStreamName"] for e in got} == {"app-1", "app-2", "web"}
    pre = logs.filter_log_events(logGroupName=group, logStreamNamePrefix="app-", filterPattern="ERROR")["events"]
    assert len(pre) == 8
    named = logs.filter_log_events(logGroupName=group, logStreamNames=["web"])["events"]
    assert [e["message"] for e in named] == ["ERROR web"]
    timed = logs.filter_log_events(logGroupName=group, startTime=t + 100, endTime=t + 101)["events"]
    assert [e["message"] for e in timed] == ["ERROR app-2 0", "ERROR app-2 1"]  # endTime inclusive
    with pytest.raises(ClientError) as e:
        logs.filter_log_events(logGroupName=group, logStreamNames=["web"], logStreamNamePrefix="a")
    assert code(e) == "InvalidParameterException"


def test_get_log_record(logs: Any, group: str) -> None:
    from .conftest import run_query
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    t = now_ms() - 1000
    put(logs, group, "s", [(t, json.dumps({"eventName": "PutObject", "requestParameters": {"key": "k"}}))])
    res = run_query(logs, group, "fields eventName")
    ptr = next(c["value"] for c in res["results"][0] if c["field"] == "@ptr")
    rec = logs.get_log_record(logRecordPointer=ptr)["logRecord"]
    assert rec["eventName"] == "PutObject" and rec["requestParameters.key"] == "k"
    assert rec["@logStream"] == "s" and rec["@log"] == f"123456789012:{group}"
    with pytest.raises(ClientError) as e:
        logs.get_log_record(logRecordPointer="bm90LWEtcG9pbnRlcg")
    assert code(e) == "ResourceNotFoundException"


def test_aws_cli_logs(east: Any) -> None:
    name = f"cli/{uuid.uuid4().hex[:10]}"
    east.aws("logs", "create-log-group", "--log-group-name", name)
    east.aws("logs", "put-retention-policy", "--log-group-name", name, "--retention-in-days", "30")
    east.aws("logs", "create-log-stream", "--log-group-name", name, "--log-stream-name", "s")
    t = now_ms()
    events = json.dumps([{"timestamp": t - 10, "message": json.dumps({"eventName": "PutObject"})},
                         {"timestamp": t - 5, "message": json.dumps({"eventName": "GetObject"})}])
    east.aws("logs", "put-log-events", "--log-group-name", name, "--log-stream-name", "s", "--log-events", events)
    out = json.loads(east.aws("logs", "describe-log-groups", "--log-group-name-prefix", name).stdout)
    assert out["logGroups"][0]["retentionInDays"] == 30
    found = json.loads(east.aws("logs", "filter-log-events", "--log-group-name", name, "--filter-pattern",
                                '{ $.eventName = "PutObject" }').stdout)
    assert [json.loads(e["message"])["eventName"] for e in found["events"]] == ["PutObject"]
    import time
    qid = json.loads(east.aws("logs", "start-query", "--log-group-name", name, "--start-time",
                              str(int(time.time()) - 3600), "--end-time", str(int(time.time()) + 60),
                              "--query-string", "stats count(*) as n by eventName | sort eventName").stdout)["queryId"]
    for _ in range(200):
        res = json.loads(east.aws("logs", "get-query-results", "--query-id", qid).stdout)
        if res["status"] == "Complete":
            break
        time.sleep(0.05)
    assert [[c["value"] for c in row] for row in res["results"]] == [["GetObject", "1"], ["PutObject", "1"]]
    bad = east.aws("logs", "put-retention-policy", "--log-group-name", name, "--retention-in-days", "2", check=False)
    assert bad.returncode != 0 and "InvalidParameterException" in bad.stderr
    east.aws("logs", "delete-log-group", "--log-group-name", name)


def test_tags(logs: Any, group: str) -> None:
    arn = f"arn:aws:logs:us-east-2:123456789012:log-group:{group}"
    logs.tag_resource(resourceArn=arn, tags={"team": "lab", "env": "test"})
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "lab", "env": "test"}
    logs.untag_resource(resourceArn=arn, tagKeys=["env"])
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {"team": "lab"}
    logs.tag_log_group(logGroupName=group, tags={"x": "1"})
    logs.untag_log_group(logGroupName=group, tags=["team"])
    assert logs.list_tags_for_resource(resourceArn=arn + ":*")["tags"] == {"x": "1"}
    with pytest.raises(ClientError) as e:
        logs.list_tags_for_resource(resourceArn=arn + "-missing")
    assert code(e) == "ResourceNotFoundException"
    name = group + "-tagged"
    logs.create_log_group(logGroupName=name, tags={"created": "with-tags"})
    assert logs.list_tags_log_group(logGroupName=name)["tags"] == {"created": "with-tags"}


def test_invalid_tokens_are_clear_errors(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    for call in (lambda: logs.get_log_events(logGroupName=group, logStreamName="s", nextToken="garbage"),
                 lambda: logs.filter_log_events(logGroupName=group, nextToken="garbage"),
                 lambda: logs.filter_log_events(logGroupName=group, nextToken="eyJhIjoxfQ=="),
                 lambda: logs.describe_log_streams(logGroupName=group, nextToken="eyJhIjoxfQ=="),
                 lambda: logs.describe_log_groups(nextToken="NQ==")):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "InvalidParameterException"
