"""`twinstore logs query` against a running deployment, and acknowledged log events surviving kill -9."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from typing import Any

from harness import Deployment, base_env

from .conftest import now_ms, rows, run_query


def twinstore(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "twinstore.cli.main", *args], env=base_env(), capture_output=True,
                          text=True, timeout=120)


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_logs_query_cli(deployment: Deployment, logs: Any) -> None:
    group = f"cli/q/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    t = (now_ms() - 120_000) // 1000 * 1000
    names = ["PutObject", "PutObject", "GetObject"]
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": t + 2000 * i, "message": json.dumps({"eventName": n, "key": f"k{i}"})} for i, n in enumerate(names)])
    base = ["logs", "query", "--region", "us-east-2", "--log-group", group, "--data-dir", deployment.data_dir]

    res = twinstore(*base, "--since", "1h", "stats count(*) as n by eventName | sort eventName")
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stdout.splitlines() if "Object" in ln]
    assert len(lines) == 2 and "GetObject" in lines[0] and "1" in lines[0]
    assert "PutObject" in lines[1] and "2" in lines[1] and "2 rows" in res.stdout

    res = twinstore(*base, "--json", "--since", "30m", "filter eventName = 'PutObject' | fields key")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert [r["key"] for r in out] == ["k1", "k0"] and all(r["@ptr"] for r in out)

    start = str(t // 1000)  # epoch seconds
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t / 1000 + 2))  # ISO 8601, inclusive second
    res = twinstore(*base, "--json", "--start", start, "--end", end, "fields key | sort key")
    assert res.returncode == 0, res.stderr
    assert [r["key"] for r in json.loads(res.stdout)] == ["k0", "k1"]

    res = twinstore(*base, "--endpoint", deployment["us-east-2"].endpoint, "--json", "fields key | limit 1")
    assert res.returncode == 0 and len(json.loads(res.stdout)) == 1

    bad = twinstore(*base, "filter eventName = 'x' | stats nope(x)")
    assert bad.returncode != 0
    assert "MalformedQueryException" in bad.stderr and "^^^^" in bad.stderr
    missing = twinstore("logs", "query", "--region", "us-east-2", "--log-group", group + "-none", "--data-dir",
                        deployment.data_dir, "fields a")
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr
    wrong_region = twinstore("logs", "query", "--region", "eu-west-9", "--log-group", group, "--data-dir",
                             deployment.data_dir, "fields a")
    assert wrong_region.returncode != 0 and "not part of the deployment" in wrong_region.stderr


def test_acknowledged_events_survive_kill9(monkeypatch: Any) -> None:
    monkeypatch.setenv("TWINSTORE_LOGS_ENCODERS", "1")  # large batches encoded in the helper process
    dep = Deployment(("us-east-2",)).start()
    try:
        region = dep["us-east-2"]
        logs = region.client("logs")
        logs.create_log_group(logGroupName="durable")
        logs.create_log_stream(logGroupName="durable", logStreamName="s")
        t = now_ms() - 60_000
        for b in range(5):  # 4 small batches (encoded in a thread), one of 300 (in the helper process)
            size = 300 if b == 4 else 100
            logs.put_log_events(logGroupName="durable", logStreamName="s", logEvents=[
                {"timestamp": t + b * 1000 + i, "message": json.dumps({"batch": b, "i": i})} for i in range(size)])
        logs.put_retention_policy(logGroupName="durable", retentionInDays=7)
        assert region.proc is not None
        helpers = children(region.proc.pid)
        assert helpers, "the 300-event batch should have started an encoding process"
        region.kill9()
        deadline = time.monotonic() + 10
        while any(alive(p) for p in helpers):  # helpers leave with their region, even after kill -9
            assert time.monotonic() < deadline, "encoding process outlived its killed region"
            time.sleep(0.1)
        region.start()
        logs = region.client("logs")
        g = logs.describe_log_groups(logGroupNamePrefix="durable")["logGroups"][0]
        assert g["retentionInDays"] == 7 and g["storedBytes"] > 0
        assert rows(run_query(logs, "durable", "stats count(*) as n, count_distinct(batch) as b")) == [
            {"n": "700", "b": "5"}]
        assert rows(run_query(logs, "durable", "filter batch = 4 and i >= 298 | fields i | sort i")) == [
            {"i": "298"}, {"i": "299"}]
        events = logs.get_log_events(logGroupName="durable", logStreamName="s", startFromHead=True)["events"]
        assert len(events) == 700 and json.loads(events[-1]["message"]) == {"batch": 4, "i": 299}
    finally:
        dep.stop()
        shutil.rmtree(dep.data_dir, ignore_errors=True)
