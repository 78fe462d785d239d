"""The CloudWatch Logs JSON API of a region (service "logs"), on top of LogStore and QueryManager.

Units as AWS: event timestamps, creation times and the Get/FilterLogEvents windows in epoch milliseconds;
StartQuery's startTime/endTime in epoch seconds.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Awaitable, Callable

from ..auth.request import ApiRequest
from ..protocol.errors import AWSError
from .flatten import discover
from .model import LogGroup, LogStream
from .patterns import compile_pattern
from .queries import QueryManager
from .query.values import format_ms, render
from .sqlite_backend import decode_ptr
from .store import LogStore, check_group_name, group_not_found, invalid, now_ms

_FAR = 1 << 62
FILTER_SCAN_PER_CALL = 100_000  # events one FilterLogEvents call examines before answering with a nextToken


def _token(kind: str, ts: int, eid: int) -> str:
    return f"{kind}/{ts:020d}/{eid}"


def _parse_token(tok: str, kind: str) -> tuple[int, int]:
    try:
        k, ts, eid = tok.split("/")
        if k != kind:
            raise ValueError
        return int(ts), int(eid)
    except ValueError:
        raise invalid("The specified nextToken is invalid.") from None


def _page_token(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def _read_page_token(tok: str | None) -> Any:
    if not tok:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(tok.encode()))
    except (ValueError, TypeError):
        raise invalid("The specified nextToken is invalid.") from None


def _offset_token(tok: str | None) -> int:
    v = _read_page_token(tok) or 0
    if not isinstance(v, int) or v < 0:
        raise invalid("The specified nextToken is invalid.")
    return v


def _limit(params: dict[str, Any], key: str, default: int, hi: int) -> int:
    v = params.get(key)
    if v is None:
        return default
    if not 1 <= v <= hi:
        raise invalid(f"1 validation error detected: Value '{v}' at '{key}' failed to satisfy constraint: "
                      f"Member must have value between 1 and {hi}")
    return int(v)


class LogsService:
    service = "logs"

    def __init__(self, store: LogStore) -> None:
        self.store = store
        self.queries = QueryManager(store)
        self._ops: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "CreateLogGroup": self.create_log_group, "DeleteLogGroup": self.delete_log_group,
            "DescribeLogGroups": self.describe_log_groups, "PutRetentionPolicy": self.put_retention_policy,
            "DeleteRetentionPolicy": self.delete_retention_policy, "CreateLogStream": self.create_log_stream,
            "DeleteLogStream": self.delete_log_stream, "DescribeLogStreams": self.describe_log_streams,
            "PutLogEvents": self.put_log_events, "GetLogEvents": self.get_log_events,
            "FilterLogEvents": self.filter_log_events, "StartQuery": self.start_query,
            "GetQueryResults": self.get_query_results, "StopQuery": self.stop_query,
            "DescribeQueries": self.describe_queries, "GetLogRecord": self.get_log_record,
            "TagResource": self.tag_resource, "UntagResource": self.untag_resource,
            "ListTagsForResource": self.list_tags_for_resource, "TagLogGroup": self.tag_log_group,
            "UntagLogGroup": self.untag_log_group, "ListTagsLogGroup": self.list_tags_log_group,
        }

    _STREAM_OPS = frozenset({"CreateLogStream", "DeleteLogStream", "PutLogEvents", "GetLogEvents"})

    def resource_arn(self, req: ApiRequest) -> str:
        """What IAM authorizes the call on: the log stream for stream-level calls (the lab's CloudTrail role may
        `logs:PutLogEvents` on `…:log-group:NAME:log-stream:*`), else the log group, else `*`."""
        p = req.params
        if p.get("resourceArn"):
            return str(p["resourceArn"]).removesuffix(":*")
        group = p.get("logGroupName") or p.get("logGroupIdentifier")
        names = p.get("logGroupNames") or p.get("logGroupIdentifiers") or []
        if not group and len(names) == 1:
            group = names[0]
        if not group:
            return "*"
        group = str(group)
        base = group.removesuffix(":*") if group.startswith("arn:") else self.store.arn(group, star=False)
        if req.operation in self._STREAM_OPS and p.get("logStreamName"):
            return f"{base}:log-stream:{p['logStreamName']}"
        return base

    async def call(self, req: ApiRequest) -> dict[str, Any]:
        op = self._ops.get(req.operation)
        if op is None:
            raise AWSError("UnknownOperationException", f"twinstore does not implement logs {req.operation}",
                           status=400)
        return await op(req.params)

    def close(self) -> None:
        self.queries.close()

    # ---- groups -------------------------------------------------------------------------------------------
    def _group_out(self, g: LogGroup, brief: bool = False) -> dict[str, Any]:
        if brief:  # with logGroupNamePattern AWS answers only these
            return {"logGroupName": g.name, "creationTime": g.created_ms, "arn": self.store.arn(g.name)}
        out: dict[str, Any] = {"logGroupName": g.name, "creationTime": g.created_ms, "metricFilterCount": 0,
                               "arn": self.store.arn(g.name), "logGroupArn": self.store.arn(g.name, star=False),
                               "storedBytes": g.stored_bytes, "logGroupClass": g.log_group_class,
                               "deletionProtectionEnabled": False}
        if g.retention_days:
            out["retentionInDays"] = g.retention_days
        if g.kms_key_id:
            out["kmsKeyId"] = g.kms_key_id
        return out

    async def create_log_group(self, p: dict[str, Any]) -> dict[str, Any]:
        await self.store.create_log_group(p.get("logGroupName", ""), tags=p.get("tags"),
                                          kms_key_id=p.get("kmsKeyId"), log_group_class=p.get("logGroupClass"))
        return {}

    async def delete_log_group(self, p: dict[str, Any]) -> dict[str, Any]:
        await self.store.delete_group(p.get("logGroupName", ""))
        return {}

    async def describe_log_groups(self, p: dict[str, Any]) -> dict[str, Any]:
        limit = _limit(p, "limit", 50, 50)
        prefix = p.get("logGroupNamePrefix") or ""
        pattern = p.get("logGroupNamePattern") or ""  # case-sensitive substring
        if prefix and pattern:
            raise invalid("LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive parameters.")
        idents = p.get("logGroupIdentifiers")
        after = _read_page_token(p.get("nextToken")) or ""
        if not isinstance(after, str):
            raise invalid("The specified nextToken is invalid.")
        found: list[LogGroup] = []
        while len(found) <= limit:
            batch = await self.store.backend.list_groups(prefix, after, 200)
            if not batch:
                break
            after = batch[-1].name
            for g in batch:
                if pattern and pattern not in g.name:
                    continue
                if idents and g.name not in idents and self.store.arn(g.name, star=False) not in idents:
                    continue
                if p.get("logGroupClass") and g.log_group_class != p["logGroupClass"]:
                    continue
                found.append(g)
        out: dict[str, Any] = {"logGroups": [self._group_out(g, brief=bool(pattern)) for g in found[:limit]]}
        if len(found) > limit:
            out["nextToken"] = _page_token(found[limit - 1].name)
        return out

    async def put_retention_policy(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("retentionInDays") is None:
            raise invalid("retentionInDays is required")
        await self.store.set_retention(p.get("logGroupName", ""), int(p["retentionInDays"]))
        return {}

    async def delete_retention_policy(self, p: dict[str, Any]) -> dict[str, Any]:
        await self.store.set_retention(p.get("logGroupName", ""), None)
        return {}

    # ---- tags -------------------------------------------------------------------------------------------
    def _arn_group(self, arn: str) -> str:
        prefix = f"arn:aws:logs:{self.store.region}:{self.store.account_id}:log-group:"
        if not arn.startswith(prefix):
            raise invalid(f"Invalid resource arn: {arn}")
        return arn[len(prefix):].removesuffix(":*")

    async def _retag(self, group: str, add: dict[str, str], remove: list[str]) -> None:
        g = await self.store.group(group)
        tags = {**g.tags, **add}
        for k in remove:
            tags.pop(k, None)
        if len(tags) > 50:
            raise invalid("A log group can have at most 50 tags.")
        await self.store.backend.set_tags(group, tags)

    async def tag_resource(self, p: dict[str, Any]) -> dict[str, Any]:
        await self._retag(self._arn_group(p.get("resourceArn", "")), p.get("tags") or {}, [])
        return {}

    async def untag_resource(self, p: dict[str, Any]) -> dict[str, Any]:
        await self._retag(self._arn_group(p.get("resourceArn", "")), {}, p.get("tagKeys") or [])
        return {}

    async def list_tags_for_resource(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"tags": (await self.store.group(self._arn_group(p.get("resourceArn", "")))).tags}

    async def tag_log_group(self, p: dict[str, Any]) -> dict[str, Any]:
        await self._retag(p.get("logGroupName", ""), p.get("tags") or {}, [])
        return {}

    async def untag_log_group(self, p: dict[str, Any]) -> dict[str, Any]:
        await self._retag(p.get("logGroupName", ""), {}, p.get("tags") or [])
        return {}

    async def list_tags_log_group(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"tags": (await self.store.group(p.get("logGroupName", ""))).tags}

    # ---- streams ------------------------------------------------------------------------------------------
    def _group_param(self, p: dict[str, Any]) -> str:
        name, ident = p.get("logGroupName"), p.get("logGroupIdentifier")
        if bool(name) == bool(ident):
            raise invalid("Exactly one of logGroupName or logGroupIdentifier must be specified.")
        if ident and ident.startswith("arn:"):
            prefix = f"arn:aws:logs:{self.store.region}:{self.store.account_id}:log-group:"
            if not ident.startswith(prefix):
                raise group_not_found()
            ident = ident[len(prefix):].removesuffix(":*")
        group = str(name or ident)
        check_group_name(group)
        return group

    def _stream_out(self, group: str, s: LogStream) -> dict[str, Any]:
        out: dict[str, Any] = {"logStreamName": s.name, "creationTime": s.created_ms,
                               "arn": f"{self.store.arn(group, star=False)}:log-stream:{s.name}",
                               "storedBytes": s.stored_bytes}
        if s.first_ts is not None:
            out.update(firstEventTimestamp=s.first_ts, lastEventTimestamp=s.last_ts,
                       lastIngestionTime=s.last_ingest)
        return out

    async def create_log_stream(self, p: dict[str, Any]) -> dict[str, Any]:
        await self.store.create_stream(p.get("logGroupName", ""), p.get("logStreamName", ""))
        return {}

    async def delete_log_stream(self, p: dict[str, Any]) -> dict[str, Any]:
        await self.store.delete_stream(p.get("logGroupName", ""), p.get("logStreamName", ""))
        return {}

    async def describe_log_streams(self, p: dict[str, Any]) -> dict[str, Any]:
        group = self._group_param(p)
        limit = _limit(p, "limit", 50, 50)
        order = p.get("orderBy") or "LogStreamName"
        prefix = p.get("logStreamNamePrefix") or ""
        if order not in ("LogStreamName", "LastEventTime"):
            raise invalid(f"Invalid orderBy: {order}")
        if order == "LastEventTime" and prefix:
            raise invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
        _, streams = await self.store.streams(group, prefix)
        desc = bool(p.get("descending"))
        if order == "LastEventTime":
            streams.sort(key=lambda s: (s.last_ts or 0, s.name), reverse=desc)
        elif desc:
            streams.reverse()
        start = _offset_token(p.get("nextToken"))
        page = streams[start:start + limit]
        out: dict[str, Any] = {"logStreams": [self._stream_out(group, s) for s in page]}
        if start + limit < len(streams):
            out["nextToken"] = _page_token(start + limit)
        return out

    # ---- events -------------------------------------------------------------------------------------------
    async def put_log_events(self, p: dict[str, Any]) -> dict[str, Any]:
        events = [(int(e.get("timestamp", 0)), e.get("message", "")) for e in p.get("logEvents") or []]
        check_group_name(p.get("logGroupName", ""))
        rej = await self.store.put_batch(p.get("logGroupName", ""), p.get("logStreamName", ""), events)
        out: dict[str, Any] = {"nextSequenceToken": "%056d" % events[-1][0]}
        if rej.as_dict():
            out["rejectedLogEventsInfo"] = rej.as_dict()
        return out

    async def get_log_events(self, p: dict[str, Any]) -> dict[str, Any]:
        group = self._group_param(p)
        g, streams = await self.store.streams(group, p.get("logStreamName", ""))
        stream = next((s for s in streams if s.name == p.get("logStreamName")), None)
        if stream is None:
            raise AWSError("ResourceNotFoundException", "The specified log stream does not exist.", status=400)
        limit = _limit(p, "limit", 10_000, 10_000)
        start = p.get("startTime") or 0
        end = p.get("endTime") or _FAR
        tok = p.get("nextToken")
        if tok:
            forward = tok.startswith("f/")
            after = _parse_token(tok, "f" if forward else "b")
        else:
            forward = bool(p.get("startFromHead"))
            after = (-_FAR, -1) if forward else (_FAR, _FAR)
        events = await self.store.backend.scan(g.id, [stream.id], start, end, after, forward, limit,
                                               g.cutoff_ms(now_ms()))
        if not forward:
            events.reverse()  # read newest first, shown oldest first
        evs = [{"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion_time} for e in events]
        if events:  # tokens just past each end of this page
            fwd = _token("f", events[-1].timestamp, events[-1].event_id)
            back = _token("b", events[0].timestamp, events[0].event_id)
        else:  # at an end: the same position again
            fwd, back = _token("f", *after), _token("b", *after)
        return {"events": evs, "nextForwardToken": fwd, "nextBackwardToken": back}

    async def filter_log_events(self, p: dict[str, Any]) -> dict[str, Any]:
        group = self._group_param(p)
        if p.get("logStreamNames") and p.get("logStreamNamePrefix"):
            raise invalid("logStreamNames and logStreamNamePrefix are mutually exclusive")
        match = compile_pattern(p.get("filterPattern"))
        limit = _limit(p, "limit", 10_000, 10_000)
        g, streams = await self.store.streams(group, p.get("logStreamNamePrefix") or "")
        names = p.get("logStreamNames")
        if names:
            streams = [s for s in streams if s.name in names]
            if len(streams) != len(set(names)):
                raise AWSError("ResourceNotFoundException", "The specified log stream does not exist.", status=400)
        stream_ids = [s.id for s in streams] if (names or p.get("logStreamNamePrefix")) else None
        start = p.get("startTime") or 0
        end = p.get("endTime")
        end = _FAR if end is None else end + 1  # endTime is inclusive
        tok = _read_page_token(p.get("nextToken")) or [-_FAR, -1]
        if not (isinstance(tok, list) and len(tok) == 2 and all(isinstance(x, int) for x in tok)):
            raise invalid("The specified nextToken is invalid.")
        after = (tok[0], tok[1])
        cutoff = g.cutoff_ms(now_ms())
        found: list[dict[str, Any]] = []
        more = False
        scanned = 0
        while len(found) < limit:
            if scanned >= FILTER_SCAN_PER_CALL:  # a page may be short (even empty) while more events remain
                more = True
                break
            batch = await self.store.backend.scan(g.id, stream_ids, start, end, after, True, 2_000, cutoff)
            if not batch:
                break
            scanned += len(batch)
            for e in batch:
                after = (e.timestamp, e.event_id)
                if match(e.message):
                    found.append({"logStreamName": e.stream, "timestamp": e.timestamp, "message": e.message,
                                  "ingestionTime": e.ingestion_time, "eventId": str(e.event_id)})
                    if len(found) >= limit:
                        more = True
                        break
            if len(batch) < 2_000:
                break
        out: dict[str, Any] = {"events": found,
                               "searchedLogStreams": [{"logStreamName": s.name, "searchedCompletely": True}
                                                      for s in streams]}
        if more:
            out["nextToken"] = _page_token(list(after))
        return out

    async def get_log_record(self, p: dict[str, Any]) -> dict[str, Any]:
        eid = decode_ptr(p.get("logRecordPointer", ""))
        found = await self.store.backend.get_event(eid) if eid is not None else None
        if found is None:
            raise AWSError("ResourceNotFoundException", "The specified log record does not exist.", status=400)
        g, e = found
        record: dict[str, str] = {"@timestamp": format_ms(e.timestamp), "@message": e.message,
                                  "@logStream": e.stream, "@log": f"{self.store.account_id}:{g.name}",
                                  "@ingestionTime": format_ms(e.ingestion_time)}
        for k, v in (discover(e.message) or {}).items():
            s = render(k, v)
            if s is not None:
                record[k] = s
        return {"logRecord": record}

    # ---- queries ------------------------------------------------------------------------------------------
    async def start_query(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"queryId": await self.queries.start(p)}

    async def get_query_results(self, p: dict[str, Any]) -> dict[str, Any]:
        rec = self.queries.get(p.get("queryId", ""))
        res = rec.result
        out: dict[str, Any] = {"status": rec.status, "queryLanguage": "CWLI",
                               "results": res.rows if res is not None and rec.status == "Complete" else []}
        st = res.stats if res is not None else None
        out["statistics"] = {"recordsMatched": st.records_matched if st else 0.0,
                             "recordsScanned": st.records_scanned if st else 0.0,
                             "bytesScanned": st.bytes_scanned if st else 0.0,
                             "estimatedRecordsSkipped": 0.0, "estimatedBytesSkipped": 0.0,
                             "logGroupsScanned": float(len(rec.groups))}
        return out

    async def stop_query(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"success": self.queries.stop(p.get("queryId", ""))}

    async def describe_queries(self, p: dict[str, Any]) -> dict[str, Any]:
        limit = _limit(p, "maxResults", 1000, 1000)
        recs = sorted(self.queries.queries.values(), key=lambda q: q.created_ms, reverse=True)
        if p.get("logGroupName"):
            recs = [q for q in recs if any(g.name == p["logGroupName"] for g in q.groups)]
        if p.get("status"):
            recs = [q for q in recs if q.status == p["status"]]
        start = _offset_token(p.get("nextToken"))
        page = recs[start:start + limit]
        out: dict[str, Any] = {"queries": [
            {"queryId": q.query_id, "queryString": q.text, "status": q.status, "createTime": q.created_ms,
             "logGroupName": q.groups[0].name, "queryLanguage": "CWLI"} for q in page]}
        if start + limit < len(recs):
            out["nextToken"] = _page_token(start + limit)
        return out

