"""Failover drill: `python -m bench.failover`.

Two regions (us-east-2 primary, us-west-2 secondary) set up as in the lab: versioned buckets with SSE-S3 default
encryption, a replication role per region trusted by s3.amazonaws.com, rules east -> west and west -> east.

  load      --rate 4 KiB PUTs per second (open loop, distinct keys) into the ACTIVE region, optionally one
            --large-size-mib object every --large-interval s. Every --sample-th primary write is polled (HEAD)
            in the secondary until readable: the replication lag before the fault, and which data is known to be
            replicated.
  kill      at a random moment in [--kill-min, --kill-max] s the primary's process group gets SIGKILL
            (--fault hang: SIGSTOP, a region that accepts connections but never answers; SIGKILL after failover).
  failover  the client's detection: a connection error (refused, reset, server disconnected) switches to the
            secondary at once; a request that gets no answer within --timeout-ms switches too; --max-5xx
            consecutive 5xx answers switch. A write that was not acknowledged is re-sent to the secondary (same
            key). The client then reads (GET) the newest primary write it had seen replicated. Before the kill a
            timeout or error of the primary (overload) is retried there and counted, so the switch measured is
            the one the fault causes.
  outage    writes go on into the secondary for --outage s, then stop.
  recovery  the old primary is restarted (same data, same port); both outboxes drain.

Figures: RPO = primary-acknowledged writes absent from the secondary while the primary is down (its listing at
the end of the outage; nothing can reach it from the dead primary meanwhile) and the age at the kill of the
oldest of them; RTO = kill -> first acknowledged write / first successful read of replicated data in the
secondary (client-observed, detection included); recovery = restart -> every acknowledged write of the drill,
from either region, present in both with identical ListObjectVersions and no duplicate.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from .client import S3_NS, S3Client, S3Error
from .replication import create_role, head_ok, pending_ops, put_replication, start_region, teardown
from .scenarios import percentile
from .servers import TWINSTORE_ACCESS_KEY, TWINSTORE_SECRET_KEY, Server
from .sigv4 import EMPTY_SHA256, UNSIGNED_PAYLOAD, sha256_hex

PRIMARY, SECONDARY = "us-east-2", "us-west-2"
SSE_S3 = (f'<ServerSideEncryptionConfiguration xmlns="{S3_NS}"><Rule><ApplyServerSideEncryptionByDefault>'
          f'<SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault>'
          f'<BucketKeyEnabled>false</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>').encode()


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Ack:
    region: str
    key: str
    vid: str
    at: float  # monotonic time the acknowledgement was received


@dataclass
class Drill:
    """What the client knows: where it writes, what was acknowledged, when it noticed the fault."""

    active: str = PRIMARY
    acks: list[Ack] = field(default_factory=list)
    t_kill: float | None = None
    t_detect: float | None = None
    detect_reason: str = ""
    t_first_write: float | None = None
    t_first_read: float | None = None
    retried: int = 0  # writes not acknowledged by the primary, re-sent to the secondary
    errors: int = 0
    five_xx: int = 0
    early_faults: int = 0  # timeouts/errors of the primary before it was killed (overload)
    confirmed: list[Ack] = field(default_factory=list)  # primary writes seen readable in the secondary
    lags: list[float] = field(default_factory=list)

    def fault(self, region: str, reason: str) -> None:
        if self.t_kill is None:  # before the fault: an overloaded primary; counted, retried there (no switch)
            self.early_faults += 1
            return
        if region == PRIMARY and self.active == PRIMARY:
            self.active, self.t_detect, self.detect_reason = SECONDARY, time.monotonic(), reason
            log(f"  failover: {reason} from {PRIMARY} -> writing to {SECONDARY}")


async def put_vid(c: S3Client, bucket: str, key: str, size: int, data: bytes, timeout: float) -> str:
    """PutObject returning the version id; `data` is the body (or, if shorter than `size`, a chunk repeated)."""
    if len(data) == size:
        url, headers = c._prep("PUT", bucket, key, None, sha256_hex(data))
        body: Any = data
        to = aiohttp.ClientTimeout(total=timeout)
    else:
        async def gen() -> AsyncIterator[bytes]:
            left = size
            while left > 0:
                n = min(left, len(data))
                yield data[:n]
                left -= n
        url, headers = c._prep("PUT", bucket, key, None, UNSIGNED_PAYLOAD)
        body = gen()
        to = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=max(timeout, 10.0))
    headers["Content-Length"] = str(size)
    async with c.session.put(url, data=body, headers=headers, timeout=to) as r:
        if r.status != 200:
            raise S3Error("PUT", key, r.status, await r.read())
        await r.release()
        return r.headers.get("x-amz-version-id", "")


async def get_ok(c: S3Client, bucket: str, key: str, timeout: float) -> bool:
    url, headers = c._prep("GET", bucket, key, None, EMPTY_SHA256)
    try:
        async with c.session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)) as r:
            await r.read()
            return r.status == 200
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return False


async def put_with_md5(c: S3Client, bucket: str, sub: str, body: bytes) -> None:
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    url, headers = c._prep("PUT", bucket, None, [(sub, "")], sha256_hex(body), {"Content-MD5": md5})
    headers["Content-Length"] = str(len(body))
    async with c.session.put(url, data=body, headers=headers) as r:
        if r.status != 200:
            raise S3Error("PUT", f"?{sub}", r.status, await r.read())


class Writer:
    """Writes go to the active region; failures are classified and trigger the failover (see module doc)."""

    def __init__(self, drill: Drill, clients: dict[str, S3Client], buckets: dict[str, str],
                 args: argparse.Namespace) -> None:
        self.d, self.clients, self.buckets, self.args = drill, clients, buckets, args
        self.timeout = args.timeout_ms / 1000
        self.consecutive_5xx = 0
        self.on_primary_ack: Any = None

    async def write(self, key: str, size: int, data: bytes) -> None:
        first_region = self.d.active
        give_up = time.monotonic() + 60
        while time.monotonic() < give_up:
            region = self.d.active
            try:
                vid = await put_vid(self.clients[region], self.buckets[region], key, size, data, self.timeout)
            except asyncio.TimeoutError:
                self.d.fault(region, f"no answer within {self.args.timeout_ms:g} ms")
                await self._pause(region)
                continue
            except aiohttp.ClientError as e:
                self.d.fault(region, f"connection error ({type(e).__name__})")
                await self._pause(region)
                continue
            except S3Error as e:
                if e.status >= 500:
                    self.d.five_xx += 1
                    self.consecutive_5xx += 1
                    if self.consecutive_5xx >= self.args.max_5xx:
                        self.d.fault(region, f"{self.consecutive_5xx} consecutive 5xx")
                    await self._pause(region)
                    continue
                log(f"  PUT {key} failed: {e}")
                self.d.errors += 1
                return
            self.consecutive_5xx = 0
            now = time.monotonic()
            ack = Ack(region, key, vid, now)
            self.d.acks.append(ack)
            if region != first_region:
                self.d.retried += 1
            if region == SECONDARY and self.d.t_kill is not None and self.d.t_first_write is None:
                self.d.t_first_write = now
            if region == PRIMARY and self.on_primary_ack is not None:
                self.on_primary_ack(ack)
            return
        log(f"  PUT {key} never acknowledged")
        self.d.errors += 1

    async def _pause(self, region: str) -> None:
        if self.d.active == region:  # no switch (yet): do not spin
            await asyncio.sleep(0.02)

    async def run(self, stop_at: asyncio.Event) -> None:
        body_seed = os.urandom(4096)
        tasks: set[asyncio.Task[None]] = set()
        loop = asyncio.get_running_loop()
        t0, i = time.monotonic(), 0
        while not stop_at.is_set():
            delay = t0 + i / self.args.rate - time.monotonic()
            if delay > 0:
                try:
                    await asyncio.wait_for(stop_at.wait(), delay)
                    break
                except asyncio.TimeoutError:
                    pass
            body = i.to_bytes(8, "big") + body_seed[8:]  # distinct bytes per write
            t = loop.create_task(self.write(f"drill/{i:08d}", len(body), body))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
            i += 1
        await asyncio.gather(*tasks)

    async def run_large(self, stop_at: asyncio.Event) -> None:
        size = self.args.large_size_mib << 20
        chunk, j = os.urandom(1 << 20), 0
        while not stop_at.is_set():
            await self.write(f"large/{j:05d}", size, chunk)
            j += 1
            try:
                await asyncio.wait_for(stop_at.wait(), self.args.large_interval)
            except asyncio.TimeoutError:
                pass


async def list_vids(c: S3Client, bucket: str) -> list[tuple[str, str]]:
    return sorted(await c.list_versions(bucket))


def kill_region(srv: Server, sig: int = signal.SIGKILL) -> None:
    """kill -9 (or SIGSTOP: a hung region) of the region's whole process group (it runs in its own session)."""
    assert srv.proc is not None
    os.killpg(srv.proc.pid, sig)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rnd = random.Random(args.seed)
    data_dir = Path(tempfile.mkdtemp(prefix="twinstore-bench-failover-", dir="/tmp"))
    log_dir = Path(tempfile.mkdtemp(prefix="twinstore-bench-failover-logs-", dir="/tmp"))
    servers = {n: start_region(n, data_dir, log_dir) for n in (PRIMARY, SECONDARY)}
    clients = {n: S3Client(s.endpoint, TWINSTORE_ACCESS_KEY, TWINSTORE_SECRET_KEY, n, concurrency=256)
               for n, s in servers.items()}
    out: dict[str, Any] = {"config": vars(args)}
    try:
        suffix = os.urandom(4).hex()
        buckets = {n: f"crrlab-{suffix}-{n}" for n in (PRIMARY, SECONDARY)}
        for n in (PRIMARY, SECONDARY):
            await clients[n].create_bucket(buckets[n])
            await clients[n].put_versioning(buckets[n])
            await put_with_md5(clients[n], buckets[n], "encryption", SSE_S3)
        roles = {n: create_role(servers[n].endpoint, n) for n in (PRIMARY, SECONDARY)}
        await put_replication(clients[PRIMARY], buckets[PRIMARY], buckets[SECONDARY], roles[PRIMARY])
        await put_replication(clients[SECONDARY], buckets[SECONDARY], buckets[PRIMARY], roles[SECONDARY])
        canary = "canary"
        await clients[PRIMARY].put(buckets[PRIMARY], canary, b"replicated before the drill")
        while not await head_ok(clients[SECONDARY], buckets[SECONDARY], canary):
            await asyncio.sleep(0.01)

        d = Drill()
        w = Writer(d, clients, buckets, args)
        samplers: set[asyncio.Task[None]] = set()
        n_primary = 0
        poll = args.poll / 1000

        def on_primary_ack(ack: Ack) -> None:
            nonlocal n_primary
            n_primary += 1
            if n_primary % args.sample or d.t_kill is not None:
                return

            async def watch() -> None:
                while not await head_ok(clients[SECONDARY], buckets[SECONDARY], ack.key):
                    await asyncio.sleep(poll)
                d.lags.append(time.monotonic() - ack.at)
                d.confirmed.append(ack)
            t = asyncio.get_running_loop().create_task(watch())
            samplers.add(t)
            t.add_done_callback(samplers.discard)
        w.on_primary_ack = on_primary_ack

        kill_after = rnd.uniform(args.kill_min, args.kill_max)
        stop = asyncio.Event()
        log(f"load: {args.rate:g} PUT/s of 4 KiB into {PRIMARY}"
            + (f" + {args.large_size_mib} MiB every {args.large_interval:g}s" if args.large_size_mib else "")
            + f"; {args.fault} of {PRIMARY} after {kill_after:.2f}s")
        load = [asyncio.get_running_loop().create_task(w.run(stop))]
        if args.large_size_mib:
            load.append(asyncio.get_running_loop().create_task(w.run_large(stop)))
        t_load = time.monotonic()
        await asyncio.sleep(kill_after)

        # ---- kill -9 of the primary -------------------------------------------------------------------------
        kill_region(servers[PRIMARY], signal.SIGSTOP if args.fault == "hang" else signal.SIGKILL)
        d.t_kill = time.monotonic()
        for t in list(samplers):
            t.cancel()
        ref = max(d.confirmed, key=lambda a: a.at, default=None)
        ref_key = ref.key if ref else canary
        while d.t_detect is None:
            await asyncio.sleep(0.0005)
        while not await get_ok(clients[SECONDARY], buckets[SECONDARY], ref_key, args.timeout_ms / 1000):
            await asyncio.sleep(0.005)
        d.t_first_read = time.monotonic()
        while d.t_first_write is None:
            await asyncio.sleep(0.001)
        if args.fault == "hang":  # the hung primary is then killed for good
            kill_region(servers[PRIMARY])
        servers[PRIMARY].proc.wait()  # type: ignore[union-attr]
        await clients[PRIMARY].close()
        log(f"  detected after {(d.t_detect - d.t_kill) * 1000:.1f} ms; first write in {SECONDARY} after "
            f"{(d.t_first_write - d.t_kill) * 1000:.1f} ms; outage phase {args.outage:g}s")
        await asyncio.sleep(args.outage)
        stop.set()
        await asyncio.gather(*load)
        t_end_writes = time.monotonic()

        # ---- RPO: what the secondary holds of the primary's acknowledged writes while the primary is down ------
        in_west = {vid for _, vid in await list_vids(clients[SECONDARY], buckets[SECONDARY])}
        primary_acks = [a for a in d.acks if a.region == PRIMARY]
        missing = [a for a in primary_acks if a.vid not in in_west]
        oldest = min((a.at for a in missing), default=None)

        # ---- recovery: restart the old primary, both outboxes drain ------------------------------------------
        backlog = {PRIMARY: len(missing), SECONDARY: pending_ops(servers[SECONDARY].endpoint)}
        port = int(servers[PRIMARY].endpoint.rsplit(":", 1)[1])
        t_restart = time.monotonic()
        servers[PRIMARY] = start_region(PRIMARY, data_dir, log_dir, port)
        t_healthy = time.monotonic()
        clients[PRIMARY] = S3Client(servers[PRIMARY].endpoint, TWINSTORE_ACCESS_KEY, TWINSTORE_SECRET_KEY, PRIMARY,
                                    concurrency=64)
        want = {a.vid for a in d.acks}
        deadline = time.monotonic() + args.recovery_timeout
        while True:
            if all(pending_ops(servers[n].endpoint) == 0 for n in (PRIMARY, SECONDARY)):
                ev = await list_vids(clients[PRIMARY], buckets[PRIMARY])
                wv = await list_vids(clients[SECONDARY], buckets[SECONDARY])
                ids = {v for _, v in ev}
                if ev == wv and want <= ids:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the regions did not converge")
            await asyncio.sleep(0.02)
        t_conv = time.monotonic()

        lags = sorted(d.lags)
        ms = 1000.0
        out.update({
            "kill_after_s": round(d.t_kill - t_load, 3),
            "lag_before_kill_ms": {"samples": len(lags), "p50": percentile(lags, 50) * ms,
                                   "p99": percentile(lags, 99) * ms},
            "rpo": {"primary_acked": len(primary_acks), "missing_in_secondary": len(missing),
                    "oldest_missing_age_ms": max(0.0, (d.t_kill - oldest) * ms) if oldest is not None else 0.0,
                    "lost_after_recovery": len({a.vid for a in primary_acks} - ids)},
            "rto": {"detection": d.detect_reason, "detect_ms": (d.t_detect - d.t_kill) * ms,
                    "first_write_ms": (d.t_first_write - d.t_kill) * ms,
                    "first_read_ms": (d.t_first_read - d.t_kill) * ms, "read_key": ref_key,
                    "writes_resent_to_secondary": d.retried},
            "outage": {"seconds": round(t_end_writes - d.t_kill, 3),
                       "secondary_acked": sum(a.region == SECONDARY for a in d.acks)},
            "recovery": {"restart_to_healthy_s": t_healthy - t_restart, "backlog_at_restart": backlog,
                         "restart_to_converged_s": t_conv - t_restart,
                         "versions_each_side": len(ev), "acked_total": len(want),
                         "identical_listings": ev == wv, "duplicates": len(ev) - len(ids),
                         "all_acked_in_both": want <= ids and want <= {v for _, v in wv}},
            "errors": {"unacknowledged": d.errors, "http_5xx": d.five_xx,
                       "primary_faults_before_kill": d.early_faults},
        })
    finally:
        await teardown(clients.values(), servers.values(), data_dir, log_dir, args.keep_logs)
    return out


def table(o: dict[str, Any]) -> str:
    r, t, rec = o["rpo"], o["rto"], o["recovery"]
    rows = [
        (f"{o['config']['fault']} of us-east-2 after", f"{o['kill_after_s']:.2f} s of load"),
        ("lag before the kill p50 / p99", f"{o['lag_before_kill_ms']['p50']:.0f} / {o['lag_before_kill_ms']['p99']:.0f} ms"
         f" ({o['lag_before_kill_ms']['samples']} samples)"),
        ("RPO: acked in east, not in west", f"{r['missing_in_secondary']} of {r['primary_acked']} writes, oldest "
         f"{r['oldest_missing_age_ms']:.0f} ms old at the kill"),
        ("RTO: detection", f"{t['detect_ms']:.1f} ms ({t['detection']})"),
        ("RTO: first acked write in west", f"{t['first_write_ms']:.1f} ms"),
        ("RTO: first read of replicated data", f"{t['first_read_ms']:.1f} ms"),
        ("writes re-sent to west", str(t["writes_resent_to_secondary"])),
        ("primary timeouts/errors before the kill", f"{o['errors']['primary_faults_before_kill']} (retried there; "
         "a real client would have failed over early)" if o["errors"]["primary_faults_before_kill"] else "0"),
        ("writes acked by west during the outage", f"{o['outage']['secondary_acked']} in {o['outage']['seconds']:.1f} s"),
        ("recovery: restart -> healthy", f"{rec['restart_to_healthy_s']:.2f} s"),
        ("recovery: restart -> converged", f"{rec['restart_to_converged_s']:.2f} s (owed: east -> west "
         f"{rec['backlog_at_restart'][PRIMARY]}, west -> east {rec['backlog_at_restart'][SECONDARY]})"),
        ("exactly once", f"{rec['versions_each_side']} versions each side, identical={rec['identical_listings']}, "
         f"duplicates={rec['duplicates']}, all acked in both={rec['all_acked_in_both']}, "
         f"lost={r['lost_after_recovery']}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=200, help="4 KiB PUT/s into the active region (default 200)")
    ap.add_argument("--kill-min", type=float, default=5, help="earliest kill, s after the load starts (default 5)")
    ap.add_argument("--kill-max", type=float, default=15, help="latest kill (default 15)")
    ap.add_argument("--fault", choices=("kill", "hang"), default="kill",
                    help="kill: SIGKILL of the primary (connections refused/reset); hang: SIGSTOP (no answers: detected "
                         "by --timeout-ms), killed once the client has failed over (default kill)")
    ap.add_argument("--outage", type=float, default=10, help="seconds of writes into the secondary (default 10)")
    ap.add_argument("--timeout-ms", type=float, default=1000, help="no answer within this -> fail over (default 1000)")
    ap.add_argument("--max-5xx", type=int, default=3, help="consecutive 5xx answers -> fail over (default 3)")
    ap.add_argument("--large-size-mib", type=int, default=0, help="also write objects of this size (default 0: none)")
    ap.add_argument("--large-interval", type=float, default=2.0, help="seconds between large objects (default 2)")
    ap.add_argument("--sample", type=int, default=10, help="poll the replica of every n-th primary write (default 10)")
    ap.add_argument("--poll", type=float, default=5, help="replica poll interval in ms (default 5)")
    ap.add_argument("--recovery-timeout", type=float, default=600)
    ap.add_argument("--seed", type=int, default=None, help="seed of the kill moment")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--keep-logs", action="store_true")
    args = ap.parse_args()
    out = asyncio.run(run(args))
    print(table(out))
    print(json.dumps(out))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    ok = out["recovery"]["all_acked_in_both"] and out["recovery"]["identical_listings"] \
        and not out["recovery"]["duplicates"] and not out["rpo"]["lost_after_recovery"]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
