"""QueryManager in process, with a real SQLite log store: a query waiting for a worker can be stopped
(Cancelled), a running one stops between chunks, and results are kept per query."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from twinstore.protocol.errors import AWSError
from twinstore.logs.queries import WORKERS, QueryManager
from twinstore.logs.query import parse_query
from twinstore.logs.query.executor import QueryCancelled, execute, prepare
from twinstore.logs.sqlite_backend import SqliteLogBackend
from twinstore.logs.store import LogStore


async def _scenario(tmp: Path) -> None:
    store = LogStore(SqliteLogBackend(str(tmp / "logs.db"), encoder_processes=0), "us-east-2", "123456789012")
    qm = QueryManager(store)
    try:
        await store.create_log_group("g")
        t = int(time.time() * 1000) - 60_000
        for b in range(3):
            await store.put_log_events("g", "s", [(t + b * 100 + i, json.dumps({"i": i})) for i in range(50)])
        now = int(time.time())
        params = {"logGroupName": "g", "startTime": now - 3600, "endTime": now, "queryString": "stats count(*) as n"}
        for _ in range(WORKERS):  # every worker busy: the next query waits as Scheduled
            await qm._slots.acquire()
        qid = await qm.start(params)
        await asyncio.sleep(0.05)
        assert qm.get(qid).status == "Scheduled"
        assert qm.stop(qid) is True and qm.get(qid).status == "Cancelled"
        for _ in range(WORKERS):
            qm._slots.release()
        await asyncio.sleep(0.1)
        assert qm.get(qid).status == "Cancelled" and qm.get(qid).result is None
        try:
            qm.stop(qid)
        except AWSError as e:
            assert e.code == "InvalidParameterException"
        else:
            raise AssertionError("stopping an ended query must fail")

        done = await qm.start(params)
        for _ in range(1000):  # a bound on waiting, not a timing assertion
            if qm.get(done).status == "Complete":
                break
            await asyncio.sleep(0.02)
        res = qm.get(done).result
        assert res is not None and res.rows == [[{"field": "n", "value": "150"}]]

        # a running query checks for cancellation between chunks
        source = store.backend.source([await store.group("g")], 0, 1 << 62, int(time.time() * 1000), "1")
        try:
            execute(prepare(parse_query("fields i")), source, cancelled=lambda: True)
        except QueryCancelled:
            pass
        else:
            raise AssertionError("not cancelled")
        finally:
            source.close()
    finally:
        qm.close()
        await store.close()


def test_query_manager_statuses(tmp_path: Path) -> None:
    asyncio.run(_scenario(tmp_path))
