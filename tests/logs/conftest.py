"""Fixtures for CloudWatch Logs tests: a logs client on the session's east region, fresh log groups."""

from __future__ import annotations

import time
import uuid
from typing import Any, Iterator

import pytest
from botocore.config import Config


@pytest.fixture(scope="session")
def logs(east: Any) -> Any:
    return east.client("logs")


@pytest.fixture(scope="session")
def raw_logs(east: Any) -> Any:
    """A client that skips botocore's own parameter validation, to reach the server's."""
    return east.client("logs", config=Config(parameter_validation=False, retries={"max_attempts": 1}))


@pytest.fixture()
def group(logs: Any) -> Iterator[str]:
    name = f"test/logs/{uuid.uuid4().hex[:12]}"
    logs.create_log_group(logGroupName=name)
    yield name


def now_ms() -> int:
    return int(time.time() * 1000)


def wait_query(logs: Any, query_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        res = logs.get_query_results(queryId=query_id)
        if res["status"] not in ("Scheduled", "Running"):
            return dict(res)
        assert time.monotonic() < deadline, f"query still {res['status']}"
        time.sleep(0.05)


def run_query(logs: Any, group: str | list[str], query: str, start_s: int | None = None,
              end_s: int | None = None, **kw: Any) -> dict[str, Any]:
    now = int(time.time())
    args: dict[str, Any] = {"startTime": now - 86400 if start_s is None else start_s,
                            "endTime": now + 60 if end_s is None else end_s, "queryString": query, **kw}
    if isinstance(group, list):
        args["logGroupNames"] = group
    else:
        args["logGroupName"] = group
    res = wait_query(logs, logs.start_query(**args)["queryId"])
    assert res["status"] == "Complete", res
    return res


def rows(res: dict[str, Any], ptr: bool = False) -> list[dict[str, str]]:
    """Result rows as dicts, without @ptr unless asked."""
    return [{c["field"]: c["value"] for c in row if ptr or c["field"] != "@ptr"} for row in res["results"]]
