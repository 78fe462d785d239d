"""``python -m bench.logs``: CloudWatch Logs ingestion and Logs Insights query speed of one twinstore region.

Ingests N CloudTrail-shaped events (default 1,000,000) through PutLogEvents (batches up to AWS's 1 MiB limit,
several in flight), then times StartQuery -> GetQueryResults(Complete) for:
  stats:  filter eventSource = "s3.amazonaws.com" | stats count(*) by eventName
  limit:  filter eventName = "PutObject" | limit 20
  rare:   filter requestParameters.key = "obj/12345.png" | limit 20   (one match, so every chunk is read)
  lab:    the reference lab's query (fields/AS/leading pipes) over the same events
Targets (issue 6): ingestion >= 20,000 events/s; stats <= 3 s; limit <= 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from .servers import spawn_twinstore
from .sigv4 import SigV4Signer, sha256_hex

NAMES = ["PutObject", "GetObject", "DeleteObject", "CopyObject", "HeadObject", "CompleteMultipartUpload"]
GROUP = "CloudTrail/logs/bench"
QUERIES = {
    "stats": 'filter eventSource = "s3.amazonaws.com" | stats count(*) by eventName',
    "limit": 'filter eventName = "PutObject" | limit 20',
    "rare": 'filter requestParameters.key = "obj/12345.png" | limit 20',  # one match: every chunk is read
    "lab": ("fields @timestamp, requestParameters.key AS key, \n| requestParameters.bucketName AS bucket, \n"
            "| userIdentity.invokedBy AS invokedBy,\n| userIdentity.arn AS arn, \n"
            "| userIdentity.sessionContext.sessionIssuer.userName AS UserName\n| filter eventName ='PutObject'\n"
            "| sort @timestamp desc\n| limit 20"),
}


def record(i: int, ts_ms: int) -> str:
    t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts_ms / 1000))
    replicated = i % 3 == 2
    ident: dict[str, Any] = {"type": "IAMUser", "principalId": f"AIDAEXAMPLEUSER{i % 100:05d}",
                             "arn": f"arn:aws:iam::111122223333:user/u{i % 50}", "accountId": "111122223333",
                             "accessKeyId": "AKIAEXAMPLEKEY000001", "userName": f"u{i % 50}"}
    if replicated:
        ident = {"type": "AssumedRole", "principalId": "AROAEXAMPLEROLEID0001:s3-replication",
                 "arn": "arn:aws:sts::111122223333:assumed-role/p-S3-Replication-Role-us-west-2/s3-replication",
                 "accountId": "111122223333", "accessKeyId": "ASIAEXAMPLETEMP00001",
                 "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEROLEID0001",
                                                      "arn": "arn:aws:iam::111122223333:role/p-S3-Replication-Role",
                                                      "accountId": "111122223333",
                                                      "userName": "p-S3-Replication-Role-us-west-2"}},
                 "invokedBy": "AWS Internal"}
    bucket = "p-crrlab-us-east-2"
    return json.dumps({
        "eventVersion": "1.09", "userIdentity": ident, "eventTime": t, "eventSource": "s3.amazonaws.com",
        "eventName": NAMES[i % len(NAMES)], "awsRegion": "us-east-2",
        "sourceIPAddress": "AWS Internal" if replicated else f"203.0.113.{i % 250}",
        "userAgent": "AWS Internal" if replicated else "[aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64]",
        "requestParameters": {"bucketName": bucket, "Host": f"{bucket}.s3.us-east-2.amazonaws.com",
                              "key": f"obj/{i}.png"},
        "responseElements": {"x-amz-server-side-encryption": "AES256", "x-amz-version-id": f"v{i:032d}"},
        "additionalEventData": {"SignatureVersion": "SigV4", "bytesTransferredIn": 48213 + i % 1000,
                                "AuthenticationMethod": "AuthHeader", "bytesTransferredOut": 0},
        "requestID": f"{i:016X}", "eventID": f"0f3c2a7e-6c1b-4d7e-9a52-{i:012x}", "readOnly": False,
        "resources": [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/obj/{i}.png"},
                      {"accountId": "111122223333", "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}],
        "eventType": "AwsApiCall", "managementEvent": False, "recipientAccountId": "111122223333",
        "eventCategory": "Data"}, separators=(",", ":"))


class LogsClient:
    def __init__(self, endpoint: str, access_key: str, secret_key: str, region: str, concurrency: int) -> None:
        self.endpoint = endpoint
        self.host = endpoint.split("://", 1)[1]
        self.signer = SigV4Signer(access_key, secret_key, region, service="logs")
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency),
                                             timeout=aiohttp.ClientTimeout(total=600))

    async def call(self, op: str, body: dict[str, Any] | bytes) -> dict[str, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        extra = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"Logs_20140328.{op}"}
        headers = self.signer.sign("POST", self.host, "/", None, sha256_hex(data), extra_headers=extra)
        async with self.session.post(self.endpoint + "/", data=data, headers=headers) as r:
            out = await r.read()
            if r.status != 200:
                raise RuntimeError(f"{op}: {r.status} {out[:300]!r}")
            return json.loads(out) if out else {}

    async def close(self) -> None:
        await self.session.close()


def batches(n: int, start_ms: int, span_ms: int) -> list[list[dict[str, Any]]]:
    """Chronological events, packed into PutLogEvents batches under 1 MiB / 10,000 events."""
    out: list[list[dict[str, Any]]] = []
    cur: list[dict[str, Any]] = []
    size = 0
    for i in range(n):
        ts = start_ms + i * span_ms // n
        msg = record(i, ts)
        cost = len(msg) + 26
        if cur and (size + cost > 1_000_000 or len(cur) >= 10_000):
            out.append(cur)
            cur, size = [], 0
        cur.append({"timestamp": ts, "message": msg})
        size += cost
    if cur:
        out.append(cur)
    return out


async def ingest(client: LogsClient, work: list[list[dict[str, Any]]], concurrency: int) -> float:
    bodies = [json.dumps({"logGroupName": GROUP, "logStreamName": f"s{i % concurrency}", "logEvents": b}).encode()
              for i, b in enumerate(work)]  # encoded before the clock starts: the server is measured
    bodies.reverse()

    async def worker() -> None:
        while bodies:
            await client.call("PutLogEvents", bodies.pop())
    t0 = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return time.perf_counter() - t0


async def query(client: LogsClient, text: str, start_s: int, end_s: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    qid = (await client.call("StartQuery", {"logGroupName": GROUP, "startTime": start_s, "endTime": end_s,
                                            "queryString": text}))["queryId"]
    while True:
        res = await client.call("GetQueryResults", {"queryId": qid})
        if res["status"] in ("Complete", "Failed", "Cancelled"):
            break
        await asyncio.sleep(0.01)
    if res["status"] != "Complete":
        raise RuntimeError(f"query {res['status']}")
    return time.perf_counter() - t0, len(res["results"])


async def main_async(a: argparse.Namespace) -> None:
    log_dir = Path(tempfile.mkdtemp(prefix="twinstore-bench-logs-"))
    if not a.twinstore_cmd:  # this checkout's code, whatever an editable install points at
        src = str(Path(__file__).resolve().parents[1] / "src")
        os.environ["PYTHONPATH"] = src + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH")
                                          else "")
        a.twinstore_cmd = f"{sys.executable} -m twinstore.cli.main"
    srv = spawn_twinstore(a.region, log_dir, a.twinstore_cmd, [], 60)
    client = LogsClient(srv.endpoint, srv.access_key, srv.secret_key, a.region, a.concurrency)
    try:
        await client.call("CreateLogGroup", {"logGroupName": GROUP})
        for s in range(a.concurrency):
            await client.call("CreateLogStream", {"logGroupName": GROUP, "logStreamName": f"s{s}"})
        now = int(time.time() * 1000)
        span = 12 * 3_600_000
        t0 = time.perf_counter()
        work = batches(a.events, now - span - 60_000, span)
        print(f"generated {a.events:,} events in {len(work)} batches ({time.perf_counter() - t0:.1f} s)")
        cpu0, mine0 = srv.cpu_s(), time.process_time()
        secs = await ingest(client, work, a.concurrency)
        cpu, mine = srv.cpu_s() - cpu0, time.process_time() - mine0
        print(f"ingest   {a.events / secs:12,.0f} events/s   ({secs:.1f} s; server CPU {cpu:.1f} s = "
              f"{a.events / cpu:,.0f} events per server CPU-second; client CPU {mine:.1f} s)  target >= 20,000")
        start_s, end_s = (now - span) // 1000 - 120, now // 1000 + 60
        targets = {"stats": 3.0, "limit": 1.0, "rare": 1.0, "lab": 1.0}
        for name, text in QUERIES.items():
            times = []
            rows = 0
            for _ in range(a.reps):
                t, rows = await query(client, text, start_s, end_s)
                times.append(t)
            print(f"{name:8} best {min(times):6.3f} s  median {sorted(times)[len(times) // 2]:6.3f} s  "
                  f"rows {rows:5}  target <= {targets[name]} s")
    finally:
        await client.close()
        srv.stop()
        if srv.data_dir and not a.keep_data:
            shutil.rmtree(srv.data_dir, ignore_errors=True)
        shutil.rmtree(log_dir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.logs", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--concurrency", type=int, default=4, help="PutLogEvents in flight (default 4)")
    ap.add_argument("--reps", type=int, default=3, help="runs per query (default 3)")
    ap.add_argument("--region", default="us-east-2")
    ap.add_argument("--twinstore-cmd", help="command prefix replacing `twinstore`")
    ap.add_argument("--keep-data", action="store_true")
    asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    main()
