"""Logs Insights queries of a region: StartQuery schedules, a worker thread runs, GetQueryResults reads.

Query records live in memory for `RETAIN_S` (AWS keeps results 7 days); a region restart forgets them.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..aio.pool import ThreadPool
from ..protocol.errors import AWSError
from .model import LogGroup
from .query import QuerySyntaxError, parse_query
from .query.executor import Plan, QueryCancelled, Result, execute, prepare
from .store import LogStore, invalid, now_ms

log = logging.getLogger("twinstore.logs.queries")

MAX_GROUPS = 50
MAX_CONCURRENT = 30
RETAIN_S = 7 * 86_400
MAX_KEPT = 1000  # finished queries whose results are kept
WORKERS = 2


@dataclass
class QueryRecord:
    query_id: str
    text: str
    groups: list[LogGroup]
    start_ms: int
    end_ms: int  # exclusive
    plan: Plan
    created_ms: int
    status: str = "Scheduled"
    result: Result | None = None
    cancelled: bool = False
    finished_ms: int | None = None
    error: str = ""
    task: asyncio.Task[None] | None = field(default=None, repr=False)


def malformed(e: QuerySyntaxError | ValueError, text: str) -> AWSError:
    if isinstance(e, QuerySyntaxError):
        start, end, msg = e.start, e.end, str(e)
    else:
        start, end, msg = 0, max(len(text) - 1, 0), str(e)
    return AWSError("MalformedQueryException", msg, status=400,
                    queryCompileError={"location": {"startCharOffset": start, "endCharOffset": end},
                                       "message": msg})


class QueryManager:
    def __init__(self, store: LogStore) -> None:
        self.store = store
        self.queries: dict[str, QueryRecord] = {}
        self._pool = ThreadPool(WORKERS, "logs-query")
        self._slots = asyncio.Semaphore(WORKERS)

    async def start(self, params: dict[str, Any]) -> str:
        text = params.get("queryString") or ""
        if not text.strip():
            raise invalid("queryString must not be empty.")
        start_s, end_s = params.get("startTime"), params.get("endTime")
        if start_s is None or end_s is None:
            raise invalid("startTime and endTime are required.")
        if start_s < 0 or end_s < 0:
            raise invalid("startTime and endTime must be non-negative (epoch seconds).")
        if end_s < start_s:
            raise invalid("End time should not be before the start time")
        limit = params.get("limit")
        if limit is not None and not 1 <= limit <= 10_000:
            raise invalid("limit must be between 1 and 10000")
        lang = params.get("queryLanguage", "CWLI")
        if lang != "CWLI":
            raise invalid(f"twinstore supports only queryLanguage CWLI, not {lang}")
        try:
            query = parse_query(text)
            plan = prepare(query, limit)
        except (QuerySyntaxError, ValueError) as e:
            raise malformed(e, text) from None
        given = [k for k in ("logGroupName", "logGroupNames", "logGroupIdentifiers") if params.get(k)]
        if query.source is not None:
            if given:
                raise invalid("A query with SOURCE must not also specify logGroupName(s) or logGroupIdentifiers.")
            groups = await self._source_groups(query.source.prefixes, query.source.log_group_class)
        else:
            if len(given) != 1:
                raise invalid("Exactly one of logGroupName, logGroupNames or logGroupIdentifiers must be "
                              "specified.")
            raw = params[given[0]]
            names = [raw] if isinstance(raw, str) else list(raw)
            if not 1 <= len(names) <= MAX_GROUPS:
                raise invalid(f"A query can search at most {MAX_GROUPS} log groups.")
            groups = [await self.store.group(self._group_name(n)) for n in names]
        running = sum(1 for q in self.queries.values() if q.status in ("Scheduled", "Running"))
        if running >= MAX_CONCURRENT:
            raise AWSError("LimitExceededException", "Account maximum query concurrency limit of "
                           f"[{MAX_CONCURRENT}] reached.", status=400)
        self._expire()
        qid = str(uuid.uuid4())
        far = 1 << 62  # epoch ms beyond any event (and within SQLite's integers)
        rec = QueryRecord(qid, text, groups, min(int(start_s) * 1000, far), min((int(end_s) + 1) * 1000, far), plan,
                          now_ms())
        self.queries[qid] = rec
        rec.task = asyncio.get_running_loop().create_task(self._run(rec))
        return qid

    async def _source_groups(self, prefixes: list[str], cls: str | None) -> list[LogGroup]:
        found: dict[str, LogGroup] = {}
        for prefix in prefixes:
            after = ""
            while True:
                batch = await self.store.backend.list_groups(prefix, after, 200)
                if not batch:
                    break
                after = batch[-1].name
                found.update((g.name, g) for g in batch if cls is None or g.log_group_class == cls)
        if not found:
            raise AWSError("ResourceNotFoundException", "No log group matches the SOURCE command.", status=400)
        if len(found) > MAX_GROUPS:
            raise invalid(f"SOURCE matches {len(found)} log groups; a query can search at most {MAX_GROUPS}.")
        return [found[n] for n in sorted(found)]

    def _group_name(self, ident: str) -> str:
        if ident.startswith("arn:"):
            prefix = f"arn:aws:logs:{self.store.region}:{self.store.account_id}:log-group:"
            if not ident.startswith(prefix) or ident.endswith(":*"):
                raise invalid(f"Invalid log group identifier {ident!r}: use "
                              f"{prefix}NAME (without a trailing :*)")
            return ident[len(prefix):]
        return ident

    async def _run(self, rec: QueryRecord) -> None:
        async with self._slots:
            if rec.cancelled:
                return
            rec.status = "Running"
            t0 = time.monotonic()
            source = self.store.backend.source(rec.groups, rec.start_ms, rec.end_ms, now_ms(), self.store.account_id)

            def work() -> Result:
                try:
                    return execute(rec.plan, source, lambda: rec.cancelled)
                finally:
                    close = getattr(source, "close", None)
                    if close:
                        close()
            try:
                rec.result = await self._pool.run(work)
                rec.status = "Complete" if not rec.cancelled else "Cancelled"
            except QueryCancelled:
                rec.status = "Cancelled"
            except Exception as e:  # noqa: BLE001 - the query fails, the region does not
                log.exception("query %s failed", rec.query_id)
                rec.status, rec.error = "Failed", str(e)
            rec.finished_ms = now_ms()
            log.info("query %s %s in %.3fs", rec.query_id, rec.status, time.monotonic() - t0)

    def get(self, qid: str) -> QueryRecord:
        rec = self.queries.get(qid)
        if rec is None:
            raise AWSError("ResourceNotFoundException", "Query does not exist.", status=400)
        return rec

    def stop(self, qid: str) -> bool:
        """Stops a scheduled or running query; one that has ended is an error (as the API documents)."""
        rec = self.get(qid)
        if rec.status not in ("Scheduled", "Running"):
            raise invalid(f"Query {qid} is not running (status {rec.status}).")
        rec.cancelled = True
        if rec.status == "Scheduled":
            rec.status, rec.finished_ms = "Cancelled", now_ms()
        return True

    def _expire(self) -> None:
        """Forgets finished queries after RETAIN_S, and the oldest beyond MAX_KEPT (results live in memory)."""
        old = now_ms() - RETAIN_S * 1000
        done = [q for q in self.queries.values() if q.finished_ms]
        for q in done:
            if q.finished_ms is not None and q.finished_ms < old:
                del self.queries[q.query_id]
        done = [q for q in done if q.query_id in self.queries]
        for q in sorted(done, key=lambda q: q.finished_ms or 0)[:max(0, len(done) - MAX_KEPT)]:
            del self.queries[q.query_id]

    def close(self) -> None:
        for q in self.queries.values():
            q.cancelled = True
        self._pool.shutdown()
