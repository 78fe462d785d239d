"""Two-region replication benchmark: `python -m bench.replication`.

Starts two twinstore regions (us-east-2, us-west-2) sharing one deployment directory, two versioned buckets
with a replication rule each way, then measures:

  steady   4 KiB PUTs at --rate per second into EACH region at once for --duration seconds. For every
           --sample-th object, the lag from the PUT's acknowledgement to the replica being readable (HEAD 200)
           in the other region, polled every --poll ms. p50/p99/max lag and the backlog left at the end.
  large    --large-count objects of --large-size PUT (streamed) into us-east-2 one after another; per object
           the time from the acknowledgement to the replica being readable in us-west-2, and size / that time.
  outage   us-west-2 is killed (SIGKILL) for --outage seconds while us-east-2 keeps taking --rate PUT/s, then
           restarted; the time for the source's durable backlog (its /_twinstore/metrics) to drain, the drain
           rate, and an exactly-once check (both buckets list the same version ids, no duplicates).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterable

from .client import S3Client, S3Error
from .scenarios import percentile
from .servers import REPO_ROOT, TWINSTORE_ACCESS_KEY, TWINSTORE_SECRET_KEY, Server, free_port

REGIONS = ("us-east-2", "us-west-2")
_PENDING_RE = re.compile(r"^twinstore_replication_operations_pending\{[^}]*\} (\d+)$", re.M)
_VID_RE = re.compile(rb"<VersionId>([^<]*)</VersionId>")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def start_region(name: str, data_dir: Path, log_dir: Path, port: int | None = None) -> Server:
    port = port or free_port()
    argv = [sys.executable, "-m", "twinstore.cli.main", "server", "--region", name, "--listen", f"127.0.0.1:{port}",
            "--data-dir", str(data_dir)]
    srv = Server(name, f"http://127.0.0.1:{port}", TWINSTORE_ACCESS_KEY, TWINSTORE_SECRET_KEY, name, argv=argv,
                 log_path=log_dir / f"{name}.log")
    pp = os.environ.get("PYTHONPATH", "")
    srv.start({"TWINSTORE_ROOT_ACCESS_KEY_ID": TWINSTORE_ACCESS_KEY, "TWINSTORE_ROOT_SECRET_ACCESS_KEY": TWINSTORE_SECRET_KEY,
               "PYTHONPATH": str(REPO_ROOT / "src") + (os.pathsep + pp if pp else "")})
    srv.wait_ready("/_twinstore/health", want_200=True)
    return srv


async def teardown(clients: Iterable[S3Client], servers: Iterable[Server], data_dir: Path, log_dir: Path,
                   keep_logs: bool) -> None:
    """Closes the clients, stops the servers, removes the data (and the logs unless asked to keep them)."""
    for c in clients:
        await c.close()
    for s in servers:
        s.stop()
    shutil.rmtree(data_dir, ignore_errors=True)
    if not keep_logs:
        shutil.rmtree(log_dir, ignore_errors=True)
    else:
        log(f"logs in {log_dir}")


def create_role(endpoint: str, region: str) -> str:
    """The replication role (trusting s3.amazonaws.com, the lab's permissions), through the IAM API."""
    import boto3
    iam = boto3.client("iam", endpoint_url=endpoint, region_name=region, aws_access_key_id=TWINSTORE_ACCESS_KEY,
                       aws_secret_access_key=TWINSTORE_SECRET_KEY)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                                                     "Action": "sts:AssumeRole"}]}
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:Get*", "s3:ListBucket"], "Resource": "arn:aws:s3:::*"},
        {"Effect": "Allow", "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
         "Resource": "arn:aws:s3:::*/*"}]}
    arn = iam.create_role(RoleName=f"bench-replication-{region}",
                          AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=f"bench-replication-{region}", PolicyName="replication",
                        PolicyDocument=json.dumps(policy))
    return str(arn)


async def put_replication(c: S3Client, bucket: str, dest: str, role: str) -> None:
    body = (f'<ReplicationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f'<Role>{role}</Role><Rule><ID>bench</ID><Priority>0</Priority>'
            f'<Filter/><Status>Enabled</Status><DeleteMarkerReplication><Status>Disabled</Status>'
            f'</DeleteMarkerReplication><Destination><Bucket>arn:aws:s3:::{dest}</Bucket></Destination></Rule>'
            f'</ReplicationConfiguration>').encode()
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    url, headers = c._prep("PUT", bucket, None, [("replication", "")], hashlib.sha256(body).hexdigest(),
                           {"Content-MD5": md5})
    headers["Content-Length"] = str(len(body))
    async with c.session.put(url, data=body, headers=headers) as r:
        if r.status != 200:
            raise S3Error("PUT", "?replication", r.status, await r.read())


async def head_ok(c: S3Client, bucket: str, key: str) -> bool:
    try:
        await c.head(bucket, key)
        return True
    except S3Error:
        return False


async def wait_readable(c: S3Client, bucket: str, key: str, poll: float, timeout: float = 600) -> float:
    """Monotonic time at which `key` became readable in `bucket`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await head_ok(c, bucket, key):
            return time.monotonic()
        await asyncio.sleep(poll)
    raise TimeoutError(f"{bucket}/{key} never became readable")


_BUCKET_RE = re.compile(r'^twinstore_replication_latency_seconds_bucket\{[^}]*le="([^"]+)"\} (\d+)$', re.M)


def server_latency_quantiles(endpoints: list[str], qs: tuple[float, ...] = (0.5, 0.99)) -> dict[str, float]:
    """Quantiles (bucket upper bounds, ms) of the regions' replication latency histograms (replica commit minus
    the source's Last-Modified), summed over rules and regions: the servers' own view, without polling."""
    cum: dict[float, int] = {}
    for ep in endpoints:
        with urllib.request.urlopen(ep + "/_twinstore/metrics", timeout=10) as r:
            for le, n in _BUCKET_RE.findall(r.read().decode()):
                bound = float("inf") if le == "+Inf" else float(le)
                cum[bound] = cum.get(bound, 0) + int(n)
    bounds = sorted(cum)
    total = cum.get(float("inf"), 0)
    out: dict[str, float] = {"count": float(total)}
    for q in qs:
        out[f"p{int(q * 100)}_le_ms"] = next((b * 1000 for b in bounds if total and cum[b] >= q * total), 0.0)
    return out


def pending_ops(endpoint: str) -> int:
    with urllib.request.urlopen(endpoint + "/_twinstore/metrics", timeout=10) as r:
        return sum(int(n) for n in _PENDING_RE.findall(r.read().decode()))


async def paced_puts(c: S3Client, bucket: str, prefix: str, rate: float, duration: float, body: bytes,
                     on_ack: Any = None) -> list[str]:
    """Open-loop PUTs at `rate`/s for `duration` s; returns the acknowledged keys."""
    keys: list[str] = []
    tasks: set[asyncio.Task[None]] = set()
    n = int(rate * duration)
    t0 = time.monotonic()

    async def one(i: int) -> None:
        key = f"{prefix}/{i:07d}"
        try:
            await c.put(bucket, key, body)
        except (S3Error, OSError) as e:
            log(f"  PUT {key} failed: {e}")
            return
        keys.append(key)
        if on_ack is not None:
            on_ack(i, key, time.monotonic())

    for i in range(n):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        t = asyncio.get_running_loop().create_task(one(i))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    return keys


async def list_vids(c: S3Client, bucket: str) -> list[tuple[str, str]]:
    return sorted(await c.list_versions(bucket))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="twinstore-bench-repl-", dir="/tmp"))
    log_dir = Path(tempfile.mkdtemp(prefix="twinstore-bench-repl-logs-", dir="/tmp"))
    servers = {name: start_region(name, data_dir, log_dir) for name in REGIONS}
    out: dict[str, Any] = {"config": vars(args)}
    clients = {n: S3Client(s.endpoint, TWINSTORE_ACCESS_KEY, TWINSTORE_SECRET_KEY, n, concurrency=256)
               for n, s in servers.items()}
    try:
        suffix = os.urandom(4).hex()
        buckets = {n: f"bench-repl-{n}-{suffix}" for n in REGIONS}
        for n in REGIONS:
            await clients[n].create_bucket(buckets[n])
            await clients[n].put_versioning(buckets[n])
        east, west = REGIONS
        await put_replication(clients[east], buckets[east], buckets[west], create_role(servers[east].endpoint, east))
        await put_replication(clients[west], buckets[west], buckets[east], create_role(servers[west].endpoint, west))
        body = os.urandom(4096)
        poll = args.poll / 1000

        # ---- steady bidirectional load -------------------------------------------------------------------
        log(f"steady: {args.rate}/s 4 KiB PUTs into each region for {args.duration}s")
        lags: list[float] = []
        waits: set[asyncio.Task[None]] = set()

        def sampler(src: str) -> Any:
            other = west if src == east else east

            def on_ack(i: int, key: str, acked: float) -> None:
                if i % args.sample:
                    return

                async def measure() -> None:
                    lags.append(await wait_readable(clients[other], buckets[other], key, poll) - acked)
                t = asyncio.get_running_loop().create_task(measure())
                waits.add(t)
                t.add_done_callback(waits.discard)
            return on_ack

        t0 = time.monotonic()
        await asyncio.gather(*(paced_puts(clients[n], buckets[n], f"steady-{n}", args.rate, args.duration, body,
                                          sampler(n)) for n in REGIONS))
        elapsed = time.monotonic() - t0
        backlog_end = {n: pending_ops(servers[n].endpoint) for n in REGIONS}
        await asyncio.gather(*waits)
        lags.sort()
        out["steady"] = {"offered_per_region": args.rate, "achieved_total_per_s": 2 * args.rate * args.duration / elapsed,
                         "samples": len(lags), "lag_p50_ms": percentile(lags, 50) * 1000,
                         "lag_p99_ms": percentile(lags, 99) * 1000, "lag_max_ms": lags[-1] * 1000 if lags else 0,
                         "backlog_at_end": backlog_end,
                         "server_histogram": server_latency_quantiles([s.endpoint for s in servers.values()])}
        log(f"  {json.dumps(out['steady'])}")

        # ---- large objects -------------------------------------------------------------------------------
        size = args.large_size_mib * 1024 * 1024
        log(f"large: {args.large_count} x {args.large_size_mib} MiB east -> west")
        rates = []
        chunk = os.urandom(1 << 20)
        for i in range(args.large_count):
            key = f"large/{i}"
            await clients[east].put_stream(buckets[east], key, size, chunk)
            acked = time.monotonic()
            done = await wait_readable(clients[west], buckets[west], key, poll)
            rates.append(size / (done - acked) / 1e6)
        out["large"] = {"size_mib": args.large_size_mib, "count": args.large_count,
                        "replication_MBps": sorted(rates), "median_MBps": percentile(sorted(rates), 50)}
        log(f"  {json.dumps(out['large'])}")

        # ---- outage and drain ----------------------------------------------------------------------------
        if args.outage > 0:
            log(f"outage: us-west-2 killed for {args.outage}s under {args.rate}/s into us-east-2")
            port = int(servers[west].endpoint.rsplit(":", 1)[1])
            proc = servers[west].proc
            assert proc is not None
            proc.kill()
            proc.wait()
            await clients[west].close()
            await paced_puts(clients[east], buckets[east], "outage", args.rate, args.outage, body)
            backlog = pending_ops(servers[east].endpoint)
            servers[west] = start_region(west, data_dir, log_dir, port)
            t_back = time.monotonic()
            clients[west] = S3Client(servers[west].endpoint, TWINSTORE_ACCESS_KEY, TWINSTORE_SECRET_KEY, west,
                                     concurrency=64)
            while pending_ops(servers[east].endpoint) > 0:
                await asyncio.sleep(0.05)
            drain = time.monotonic() - t_back
            while pending_ops(servers[west].endpoint) > 0:
                await asyncio.sleep(0.05)
            ev, wv = await list_vids(clients[east], buckets[east]), await list_vids(clients[west], buckets[west])
            out["outage"] = {"seconds_down": args.outage, "backlog_ops": backlog, "drain_s": drain,
                             "drain_ops_per_s": backlog / drain if drain else 0.0,
                             "versions_east": len(ev), "versions_west": len(wv),
                             "exactly_once": ev == wv and len(set(ev)) == len(ev)}
            log(f"  {json.dumps(out['outage'])}")
    finally:
        await teardown(clients.values(), servers.values(), data_dir, log_dir, args.keep_logs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=200, help="PUT/s into EACH region (default 200)")
    ap.add_argument("--duration", type=float, default=20, help="seconds of steady load (default 20)")
    ap.add_argument("--sample", type=int, default=25, help="measure the lag of every n-th object (default 25)")
    ap.add_argument("--poll", type=float, default=5, help="HEAD poll interval in ms (default 5)")
    ap.add_argument("--large-size-mib", type=int, default=64)
    ap.add_argument("--large-count", type=int, default=3)
    ap.add_argument("--outage", type=float, default=60, help="seconds us-west-2 is down (0: skip)")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--keep-logs", action="store_true")
    args = ap.parse_args()
    out = asyncio.run(run(args))
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
