"""Benchmark scenarios: closed-loop load against one target, with server RSS/CPU sampling."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .client import S3Client, is_truncated, key_count
from .servers import Server

SMALL_SCENARIOS = ("put-small", "put-small-trail", "put-small-iam", "get-small", "head-small", "list")
LARGE_SCENARIOS = ("put-large", "get-large", "range-large")
RANGE_SIZE = 1024
ALL_SCENARIOS = SMALL_SCENARIOS + LARGE_SCENARIOS
SMALL_SIZE = 4096
LIST_KEYS = 1000
CHUNK = 1 << 20
_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B?)?$", re.I)


def parse_size(text: str) -> int:
    """``64M`` / ``1G`` / ``4096`` -> bytes (K/M/G/T are binary multiples)."""
    m = _SIZE_RE.match(text.strip())
    if not m:
        raise ValueError(f"bad size {text!r}")
    mult = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[m.group(2).upper()]
    return int(float(m.group(1)) * mult)


def size_label(n: int) -> str:
    """Bytes -> compact label (``64M``, ``1G``)."""
    for unit, mult in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= mult and n % mult == 0:
            return f"{n // mult}{unit}"
    return str(n)


def percentile(sorted_vals: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (nan if empty)."""
    if not sorted_vals:
        return float("nan")
    idx = min(len(sorted_vals) - 1, max(0, int(round(q / 100 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[idx]


@dataclass
class Config:
    """Load parameters shared by all scenarios."""

    duration: float = 5.0
    max_ops: int = 5000
    concurrency: int = 16
    list_concurrency: int = 4
    large_sizes: list[int] = field(default_factory=lambda: [64 << 20])
    large_reps: int = 3
    sample_interval: float = 0.05


@dataclass
class Result:
    """Figures for one scenario on one target (JSON-serialisable via :meth:`as_dict`)."""

    scenario: str
    target: str
    unit: str  # "ops/s", "lists/s" or "MB/s"
    concurrency: int
    ops: int = 0
    errors: int = 0
    elapsed_s: float = 0.0
    bytes: int = 0
    rate: float = 0.0  # in ``unit``
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    max_ms: float = float("nan")
    client_cpu_pct: float = 0.0  # load generator CPU / wall (100 == one core)
    server_cpu_pct: float | None = None  # server tree CPU / wall
    server_cpu_us_per_op: float | None = None
    server_rss_max_mib: float | None = None  # max sampled VmRSS (tree sum) during the scenario
    server_vmhwm_mib: float | None = None  # VmHWM (tree) right after the scenario: peak since start
    first_error: str | None = None
    note: str = ""
    baseline_rate: float | None = None  # put-small-iam: the root's rate measured interleaved with it
    baseline_cpu_us_per_op: float | None = None  # ... and its server CPU per op

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return dict(self.__dict__)


@dataclass
class LoadStats:
    """Raw outcome of :func:`run_load`."""

    ops: int
    errors: int
    elapsed: float
    nbytes: int
    lat: list[float]
    first_error: str | None


async def run_load(
    op: Callable[[int], Awaitable[int]], concurrency: int, duration: float, max_ops: int
) -> LoadStats:
    """Closed loop: ``concurrency`` workers call ``op(i)`` for i = 0,1,2... until either
    ``max_ops`` calls were started or ``duration`` seconds elapsed. ``op`` returns bytes moved."""
    counter = itertools.count()
    lat: list[float] = []
    errors = nbytes = 0
    first_error: str | None = None
    t_start = time.perf_counter()
    deadline = t_start + duration

    async def worker() -> None:
        nonlocal errors, nbytes, first_error, deadline
        perf = time.perf_counter
        while True:
            t0 = perf()
            if t0 >= deadline:
                return
            i = next(counter)
            if i >= max_ops:
                return
            try:
                nbytes += await op(i)
            except Exception as e:  # noqa: BLE001 - counted and reported
                errors += 1
                if first_error is None:
                    first_error = f"{type(e).__name__}: {e}"
                if errors > 100 and errors > len(lat):
                    deadline = 0.0  # mostly failing: stop everyone
                continue
            lat.append(perf() - t0)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LoadStats(len(lat), errors, time.perf_counter() - t_start, nbytes, lat, first_error)


class Sampler:
    """Samples the server tree's VmRSS in the background; tracks CPU of both sides."""

    def __init__(self, server: Server, interval: float) -> None:
        self.server, self.interval = server, interval
        self.max_rss_kib = 0
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            self.max_rss_kib = max(self.max_rss_kib, self.server.rss_kib())
            await asyncio.sleep(self.interval)

    async def __aenter__(self) -> Sampler:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        self.srv_cpu0 = self.server.cpu_s() if self.server.pid else 0.0
        if self.server.pid:
            self._task = asyncio.get_running_loop().create_task(self._loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0
        if self._task:
            self._task.cancel()
            self.max_rss_kib = max(self.max_rss_kib, self.server.rss_kib())
            self.srv_cpu = self.server.cpu_s() - self.srv_cpu0

    def fill(self, r: Result) -> None:
        """Copy CPU/RSS figures into ``r``."""
        r.client_cpu_pct = 100 * self.cpu / self.wall if self.wall else 0.0
        if self.server.pid:
            r.server_cpu_pct = 100 * self.srv_cpu / self.wall if self.wall else 0.0
            r.server_cpu_us_per_op = 1e6 * self.srv_cpu / r.ops if r.ops else None
            r.server_rss_max_mib = self.max_rss_kib / 1024
            r.server_vmhwm_mib = self.server.vmhwm_kib() / 1024


def merge_results(parts: list[Result]) -> Result:
    """One Result from rounds of the same large scenario on one target (see bench/__main__.py): rates from the
    summed bytes and time, percentiles over the rounds' single-op latencies, CPU weighted by time."""
    first = parts[0]
    r = Result(first.scenario, first.target, first.unit, first.concurrency)
    r.ops = sum(p.ops for p in parts)
    r.errors = sum(p.errors for p in parts)
    r.elapsed_s = sum(p.elapsed_s for p in parts)
    r.bytes = sum(p.bytes for p in parts)
    r.rate = r.bytes / 1e6 / r.elapsed_s if r.elapsed_s else 0.0
    r.first_error = next((p.first_error for p in parts if p.first_error), None)
    lat = sorted(p.elapsed_s / p.ops for p in parts if p.ops)
    r.p50_ms, r.p99_ms = percentile(lat, 50) * 1e3, percentile(lat, 99) * 1e3
    r.max_ms = lat[-1] * 1e3 if lat else float("nan")
    wall = r.elapsed_s or 1.0
    r.client_cpu_pct = sum(p.client_cpu_pct * p.elapsed_s for p in parts) / wall
    if first.server_cpu_pct is not None:
        r.server_cpu_pct = sum((p.server_cpu_pct or 0.0) * p.elapsed_s for p in parts) / wall
        cpu_us = sum((p.server_cpu_us_per_op or 0.0) * p.ops for p in parts)
        r.server_cpu_us_per_op = cpu_us / r.ops if r.ops else None
        r.server_rss_max_mib = max(p.server_rss_max_mib or 0.0 for p in parts)
        r.server_vmhwm_mib = parts[-1].server_vmhwm_mib
    return r


class TargetRun:
    """All scenarios for one target: its client, buckets and the keys written so far."""

    def __init__(self, server: Server, cfg: Config, run_id: str) -> None:
        self.server, self.cfg = server, cfg
        self.client = S3Client(server.endpoint, server.access_key, server.secret_key, server.region,
                               concurrency=max(cfg.concurrency, cfg.list_concurrency))
        self.bucket = f"bench-{run_id}"
        self.list_bucket = f"bench-{run_id}-list"
        self.trail_bucket = f"bench-{run_id}-trail"
        self._trails = 0
        self.rep_limit: int | None = None  # set by the runner to interleave large reps across targets
        self.small_keys: list[str] = []
        self.iam_client: S3Client | None = None
        self.large_done: set[int] = set()
        self._list_ready = False
        self._base = os.urandom(SMALL_SIZE)
        self._chunk = os.urandom(CHUNK)

    async def setup(self) -> None:
        """Create the versioned bucket and check versioning reads back as Enabled."""
        await self._make_bucket(self.bucket)

    async def _make_bucket(self, bucket: str) -> None:
        await self.client.create_bucket(bucket)
        await self.client.put_versioning(bucket)
        xml = await self.client.get_versioning(bucket)
        if b"<Status>Enabled</Status>" not in xml:
            raise RuntimeError(f"{self.server.name}: versioning not enabled on {bucket}: {xml[:300]!r}")

    async def close(self) -> None:
        """Close the HTTP session(s)."""
        await self.client.close()
        if self.iam_client is not None:
            await self.iam_client.close()

    def _body(self, i: int) -> bytes:
        """Distinct 4 KiB body per op (8-byte counter + shared random tail)."""
        return i.to_bytes(8, "big") + self._base[8:]

    async def _measure(self, name: str, unit: str, conc: int, op: Callable[[int], Awaitable[int]],
                       duration: float, max_ops: int, scale: float = 1.0) -> Result:
        r = Result(name, self.server.name, unit, conc)
        async with Sampler(self.server, self.cfg.sample_interval) as s:
            st = await run_load(op, conc, duration, max_ops)
        r.ops, r.errors, r.elapsed_s, r.bytes, r.first_error = (
            st.ops, st.errors, st.elapsed, st.nbytes, st.first_error)
        r.rate = (st.nbytes / 1e6 if unit == "MB/s" else st.ops) / st.elapsed * scale if st.elapsed else 0.0
        lat = sorted(st.lat)
        r.p50_ms, r.p99_ms = percentile(lat, 50) * 1e3, percentile(lat, 99) * 1e3
        r.max_ms = lat[-1] * 1e3 if lat else float("nan")
        s.fill(r)
        return r

    async def _seed(self, bucket: str, keys: list[str], body: bytes) -> None:
        """Write ``keys`` (untimed) with the small concurrency."""
        async def op(i: int) -> int:
            await self.client.put(bucket, keys[i], body)
            return 0
        st = await run_load(op, self.cfg.concurrency, 3600, len(keys))
        if st.errors:
            raise RuntimeError(f"seeding {bucket} failed: {st.first_error}")

    async def _ensure_small_keys(self) -> None:
        if not self.small_keys:
            keys = [f"small/{i:08d}" for i in range(1000)]
            await self._seed(self.bucket, keys, self._body(0))
            self.small_keys = keys

    # -- scenarios ------------------------------------------------------------------
    async def put_small(self) -> Result:
        """PutObject 4 KiB, distinct keys ``small/NNNNNNNN``."""
        c = self.cfg
        await run_load(lambda i: self._put_small(f"warm/{i:06d}", i), c.concurrency, 10, 2 * c.concurrency)
        written: list[str] = []

        async def op(i: int) -> int:
            key = f"small/{i:08d}"
            await self._put_small(key, i)
            written.append(key)
            return SMALL_SIZE

        r = await self._measure("put-small", "ops/s", c.concurrency, op, c.duration, c.max_ops)
        self.small_keys = written
        return r

    async def put_small_trail(self) -> Result:
        """put-small while a CloudTrail trail selects this bucket's write data events (the lab's selector) and
        delivers them to a logging bucket; compare with put-small of the same run."""
        c = self.cfg
        self._trails += 1
        name = await asyncio.to_thread(self._create_trail, f"{self.trail_bucket}-{self._trails}")
        try:
            await run_load(lambda i: self._put_small(f"warm-trail/{i:06d}", i), c.concurrency, 10,
                           2 * c.concurrency)

            async def op(i: int) -> int:
                return await self._put_small(f"trail/{i:08d}", i)

            r = await self._measure("put-small-trail", "ops/s", c.concurrency, op, c.duration, c.max_ops)
        finally:
            await asyncio.to_thread(self._delete_trail, name)
        return r

    def _boto(self, service: str) -> Any:
        import boto3  # setup only: the measured path uses the lean client
        srv = self.server
        return boto3.client(service, endpoint_url=srv.endpoint, region_name=srv.region,
                            aws_access_key_id=srv.access_key, aws_secret_access_key=srv.secret_key)

    def _create_trail(self, b: str) -> str:
        import json
        s3, ct = self._boto("s3"), self._boto("cloudtrail")
        s3.create_bucket(Bucket=b, CreateBucketConfiguration={"LocationConstraint": self.server.region})
        s3.put_bucket_policy(Bucket=b, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:GetBucketAcl",
             "Resource": f"arn:aws:s3:::{b}"},
            {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:PutObject",
             "Resource": f"arn:aws:s3:::{b}/AWSLogs/*",
             "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}}]}))
        name = b + "-t"
        ct.create_trail(Name=name, S3BucketName=b)
        ct.put_event_selectors(TrailName=name, EventSelectors=[{
            "ReadWriteType": "WriteOnly", "IncludeManagementEvents": False,
            "DataResources": [{"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::{self.bucket}/"]}]}])
        ct.start_logging(Name=name)
        return name

    def _delete_trail(self, name: str) -> None:
        ct = self._boto("cloudtrail")
        ct.stop_logging(Name=name)
        ct.delete_trail(Name=name)

    async def _put_small(self, key: str, i: int) -> int:
        await self.client.put(self.bucket, key, self._body(i))
        return SMALL_SIZE

    def _iam_user(self) -> tuple[str, str]:
        """(untimed, boto3) An IAM user allowed to write by an attached managed policy, plus a bucket policy
        with an Allow for the user and a conditional Deny, so a request evaluates identity and bucket policy."""
        import json

        import boto3
        kw = {"endpoint_url": self.server.endpoint, "region_name": self.server.region,
              "aws_access_key_id": self.server.access_key, "aws_secret_access_key": self.server.secret_key}
        iam, s3 = boto3.client("iam", **kw), boto3.client("s3", **kw)
        name = f"{self.bucket}-writer"
        arn = iam.create_user(UserName=name)["User"]["Arn"]
        key = iam.create_access_key(UserName=name)["AccessKey"]
        obj = f"arn:aws:s3:::{self.bucket}/*"
        policy = iam.create_policy(PolicyName=f"{name}-policy", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": [obj]},
                {"Effect": "Allow", "Action": ["s3:PutObject", "s3:AbortMultipartUpload"], "Resource": [obj]}]}))
        iam.attach_user_policy(UserName=name, PolicyArn=policy["Policy"]["Arn"])
        s3.put_bucket_policy(Bucket=self.bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": arn}, "Action": "s3:PutObject", "Resource": obj},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": obj,
             "Condition": {"StringEquals": {"s3:x-amz-acl": ["public-read", "public-read-write"]}}}]}))
        return key["AccessKeyId"], key["SecretAccessKey"]

    async def put_small_iam(self) -> Result | None:
        """PutObject 4 KiB as an IAM user (managed policy + bucket policy), keys ``iam/NNNNNNNN``. The same
        writes as the account root (keys ``root/NNNNNNNN``) run interleaved with it, in alternating slices of
        the same window, so the ratio compares like with like (disk and neighbours vary a lot between
        back-to-back scenarios). twinstore only (moto does not evaluate IAM users' policies); None elsewhere."""
        if self.server.name != "twinstore":
            return None
        c = self.cfg
        if self.iam_client is None:
            akid, secret = await asyncio.to_thread(self._iam_user)
            self.iam_client = S3Client(self.server.endpoint, akid, secret, self.server.region,
                                       concurrency=c.concurrency)
        clients = {"iam": self.iam_client, "root": self.client}
        counters = {"iam": itertools.count(), "root": itertools.count()}

        def op_for(who: str) -> Callable[[int], Awaitable[int]]:
            async def op(_: int) -> int:
                i = next(counters[who])
                await clients[who].put(self.bucket, f"{who}/{i:08d}", self._body(i))
                return SMALL_SIZE
            return op

        for who in ("iam", "root"):
            await run_load(op_for(who), c.concurrency, 10, 2 * c.concurrency)
        rounds = 8
        stats: dict[str, list[LoadStats]] = {"iam": [], "root": []}
        cpu = {"iam": 0.0, "root": 0.0}  # server CPU seconds spent in each side's slices
        for n in range(rounds):
            for who in (("iam", "root") if n % 2 == 0 else ("root", "iam")):
                cpu0 = self.server.cpu_s() if self.server.pid else 0.0
                stats[who].append(await run_load(op_for(who), c.concurrency, c.duration / rounds,
                                                 max(1, c.max_ops // rounds)))
                cpu[who] += (self.server.cpu_s() - cpu0) if self.server.pid else 0.0
        r = Result("put-small-iam", self.server.name, "ops/s", c.concurrency)
        iam_ops, iam_s = sum(x.ops for x in stats["iam"]), sum(x.elapsed for x in stats["iam"])
        root_ops, root_s = sum(x.ops for x in stats["root"]), sum(x.elapsed for x in stats["root"])
        r.ops, r.elapsed_s = iam_ops, iam_s
        r.errors = sum(x.errors for x in stats["iam"] + stats["root"])
        r.first_error = next((x.first_error for x in stats["iam"] + stats["root"] if x.first_error), None)
        r.bytes = sum(x.nbytes for x in stats["iam"])
        r.rate = iam_ops / iam_s if iam_s else 0.0
        lat = sorted(t for x in stats["iam"] for t in x.lat)
        r.p50_ms, r.p99_ms = percentile(lat, 50) * 1e3, percentile(lat, 99) * 1e3
        r.max_ms = lat[-1] * 1e3 if lat else float("nan")
        r.baseline_rate = root_ops / root_s if root_s else None
        if self.server.pid and iam_ops and root_ops:
            r.server_cpu_us_per_op = 1e6 * cpu["iam"] / iam_ops
            r.baseline_cpu_us_per_op = 1e6 * cpu["root"] / root_ops
        r.note = f"root interleaved: {r.baseline_rate or 0:.0f} ops/s"
        return r

    def _small_order(self) -> list[str]:
        keys = list(self.small_keys)
        random.Random(42).shuffle(keys)
        return keys

    async def get_small(self) -> Result:
        """GetObject of the put-small keys (shuffled, cycled); body read in full."""
        await self._ensure_small_keys()
        keys, c = self._small_order(), self.cfg

        async def op(i: int) -> int:
            n = await self.client.get(self.bucket, keys[i % len(keys)])
            if n != SMALL_SIZE:
                raise RuntimeError(f"GET returned {n} bytes, want {SMALL_SIZE}")
            return n

        await run_load(op, c.concurrency, 10, 2 * c.concurrency)
        return await self._measure("get-small", "ops/s", c.concurrency, op, c.duration, c.max_ops)

    async def head_small(self) -> Result:
        """HeadObject of the put-small keys."""
        await self._ensure_small_keys()
        keys, c = self._small_order(), self.cfg

        async def op(i: int) -> int:
            n = await self.client.head(self.bucket, keys[i % len(keys)])
            if n != SMALL_SIZE:
                raise RuntimeError(f"HEAD Content-Length {n}, want {SMALL_SIZE}")
            return 0

        await run_load(op, c.concurrency, 10, 2 * c.concurrency)
        return await self._measure("head-small", "ops/s", c.concurrency, op, c.duration, c.max_ops)

    async def list_objects(self) -> Result:
        """ListObjectsV2 max-keys=1000 over a separate versioned bucket holding exactly 1,000 keys."""
        c = self.cfg
        if not self._list_ready:
            await self._make_bucket(self.list_bucket)
            keys = [f"list/{i:04d}" for i in range(LIST_KEYS)]
            await self._seed(self.list_bucket, keys, b"0123456789abcdef")
            self._list_ready = True

        async def op(i: int) -> int:
            xml = await self.client.list_v2(self.list_bucket, max_keys=1000)
            if i < c.list_concurrency and (key_count(xml) != LIST_KEYS or is_truncated(xml)):
                raise RuntimeError(f"list returned KeyCount={key_count(xml)} truncated={is_truncated(xml)}")
            return len(xml)

        await run_load(op, c.list_concurrency, 10, c.list_concurrency)
        return await self._measure("list", "lists/s", c.list_concurrency, op, c.duration, c.max_ops)

    async def put_large(self, size: int) -> Result:
        """PutObject ``size`` bytes streamed from one random 1 MiB buffer; sequential reps."""
        key = f"large/{size_label(size)}"

        async def op(i: int) -> int:
            await self.client.put_stream(self.bucket, key, size, self._chunk)
            return size

        r = await self._measure_large(f"put-large {size_label(size)}", op)
        if r.ops:
            self.large_done.add(size)
        return r

    async def get_large(self, size: int) -> Result:
        """GetObject of the large object, streamed and discarded; sequential reps."""
        key = f"large/{size_label(size)}"
        if size not in self.large_done:
            await self.client.put_stream(self.bucket, key, size, self._chunk)
            self.large_done.add(size)

        async def op(i: int) -> int:
            n = await self.client.get_discard(self.bucket, key)
            if n != size:
                raise RuntimeError(f"GET returned {n} bytes, want {size}")
            return n

        return await self._measure_large(f"get-large {size_label(size)}", op)

    async def range_large(self, size: int) -> Result:
        """1 KiB range GETs at random offsets of the large object, sequential (latency of a small read of a
        big, possibly encrypted, object)."""
        key = f"large/{size_label(size)}"
        if size not in self.large_done:
            await self.client.put_stream(self.bucket, key, size, self._chunk)
            self.large_done.add(size)
        rng = random.Random(size)

        async def op(i: int) -> int:
            n = await self.client.get_range(self.bucket, key, rng.randrange(size - RANGE_SIZE), RANGE_SIZE)
            if n != RANGE_SIZE:
                raise RuntimeError(f"range GET returned {n} bytes, want {RANGE_SIZE}")
            return n

        await run_load(op, 1, 10, 20)  # warm-up
        return await self._measure(f"range-large {size_label(size)} 1KiB", "ops/s", 1, op, self.cfg.duration,
                                   self.cfg.max_ops)

    async def _measure_large(self, name: str, op: Callable[[int], Awaitable[int]]) -> Result:
        """Up to ``large_reps`` sequential ops, stopping once ``duration`` has passed (>= 1 op)."""
        reps = self.cfg.large_reps if self.rep_limit is None else self.rep_limit
        return await self._measure(name, "MB/s", 1, op, self.cfg.duration, reps)
