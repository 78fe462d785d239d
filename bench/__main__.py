"""``python -m bench``: benchmark twinstore against moto (or any S3 endpoint), alternating targets."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import report
from .scenarios import ALL_SCENARIOS, Config, Result, TargetRun, merge_results, parse_size, size_label
from .servers import (
    TWINSTORE_ACCESS_KEY,
    TWINSTORE_SECRET_KEY,
    Server,
    spawn_moto,
    spawn_null,
    spawn_twinstore,
    status_kib,
)

KNOWN_TARGETS = ("moto", "twinstore", "twinstore-plain", "null", "endpoint")
ENCRYPTION_SCENARIOS = "put-large,get-large,range-large"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line."""
    ap = argparse.ArgumentParser(
        prog="python -m bench",
        description="S3 benchmark: twinstore vs moto_server in a versioned bucket, servers run alternately.",
    )
    ap.add_argument("--targets", default=None,
                    help="comma list of moto,twinstore,null,endpoint (default: moto,twinstore; "
                         "with --endpoint: endpoint). 'null' = built-in no-op server (client ceiling)")
    ap.add_argument("--encryption", action="store_true",
                    help="cost of encryption at rest: targets twinstore (SSE-S3, the default for every bucket) "
                         "and twinstore-plain (--unencrypted-for-benchmarks), scenarios "
                         f"{ENCRYPTION_SCENARIOS}")
    ap.add_argument("--scenarios", default=None,
                    help=f"comma list from {','.join(ALL_SCENARIOS)} (default: all)")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per scenario (default 5)")
    ap.add_argument("--ops", type=int, default=5000, help="max ops per small scenario (default 5000)")
    ap.add_argument("--concurrency", type=int, default=16, help="in-flight requests, small ops (default 16)")
    ap.add_argument("--list-concurrency", type=int, default=4, help="in-flight ListObjectsV2 (default 4)")
    ap.add_argument("--large-sizes", default="64M", help="comma list of large object sizes, e.g. 64M,1G")
    ap.add_argument("--huge", action="store_true", help="shorthand: add 1G to --large-sizes")
    ap.add_argument("--large-reps", type=int, default=3,
                    help="max sequential large PUT/GETs per size, stopped after --duration (>=1 always)")
    ap.add_argument("--pause", type=float, default=0.5, help="idle seconds between measurements")
    ap.add_argument("--region", default="us-east-2", help="signing/bucket region (default us-east-2)")
    ap.add_argument("--endpoint", help="bench this already-running endpoint (target name 'endpoint')")
    ap.add_argument("--access-key", default=os.environ.get("AWS_ACCESS_KEY_ID", TWINSTORE_ACCESS_KEY),
                    help="for --endpoint (default: $AWS_ACCESS_KEY_ID, else the bench twinstore root key)")
    ap.add_argument("--secret-key", default=os.environ.get("AWS_SECRET_ACCESS_KEY", TWINSTORE_SECRET_KEY),
                    help="for --endpoint (default: $AWS_SECRET_ACCESS_KEY, else the bench root secret)")
    ap.add_argument("--server-pid", type=int, help="pid of the --endpoint server, to report its RSS/CPU")
    ap.add_argument("--cleanup", action="store_true",
                    help="delete all object versions and the bench buckets at the end "
                         "(useful with --endpoint)")
    ap.add_argument("--twinstore-cmd",
                    help="command prefix replacing `twinstore` (then: server --region ...)")
    ap.add_argument("--twinstore-arg", action="append", default=[], metavar="ARG",
                    help="extra argument for `twinstore server` (repeatable)")
    ap.add_argument("--moto-cmd", help="command replacing `moto_server` (then: -H 127.0.0.1 -p PORT)")
    ap.add_argument("--ready-timeout", type=float, default=60.0, help="server startup timeout (s)")
    ap.add_argument("--json", type=Path, metavar="FILE", help="also write results as JSON")
    ap.add_argument("--plain", action="store_true", help="plain-text tables even if rich is installed")
    ap.add_argument("--keep-logs", action="store_true", help="keep server logs (always kept on failure)")
    ap.add_argument("--no-uvloop", action="store_true", help="use the default asyncio loop for the client")
    a = ap.parse_args(argv)
    default_targets = "twinstore,twinstore-plain" if a.encryption else \
        "endpoint" if a.endpoint else "moto,twinstore"
    a.targets = [t.strip() for t in (a.targets or default_targets).split(",") if t.strip()]
    scenarios = a.scenarios or (ENCRYPTION_SCENARIOS if a.encryption else ",".join(ALL_SCENARIOS))
    a.scenarios = [s.strip() for s in scenarios.split(",") if s.strip()]
    for t in a.targets:
        if t not in KNOWN_TARGETS:
            ap.error(f"unknown target {t!r} (known: {', '.join(KNOWN_TARGETS)})")
    if "endpoint" in a.targets and not a.endpoint:
        ap.error("target 'endpoint' needs --endpoint URL")
    if len(set(a.targets)) != len(a.targets):
        ap.error("duplicate target")
    for s in a.scenarios:
        if s not in ALL_SCENARIOS:
            ap.error(f"unknown scenario {s!r} (known: {', '.join(ALL_SCENARIOS)})")
    sizes = [parse_size(x) for x in a.large_sizes.split(",") if x.strip()]
    if a.huge and (1 << 30) not in sizes:
        sizes.append(1 << 30)
    a.sizes = sizes
    return a


INTERLEAVED = ("put-large", "get-large")  # measured in rounds, one transfer per target per round


def plan(scenarios: list[str], sizes: list[int]) -> list[tuple[str, int | None]]:
    """Ordered measurement units; large ones size-major (put 64M, get 64M, put 1G, get 1G)."""
    large = ("put-large", "get-large", "range-large")
    units: list[tuple[str, int | None]] = [(s, None) for s in scenarios if s not in large]
    for size in sizes:
        units += [(s, size) for s in large if s in scenarios]
    return units


async def run_unit(tr: TargetRun, name: str, size: int | None) -> Result | None:
    """Dispatch one measurement unit."""
    if name == "put-small":
        return await tr.put_small()
    if name == "put-small-trail":
        return await tr.put_small_trail()
    if name == "put-small-iam":
        return await tr.put_small_iam()
    if name == "get-small":
        return await tr.get_small()
    if name == "head-small":
        return await tr.head_small()
    if name == "list":
        return await tr.list_objects()
    assert size is not None
    if name == "range-large":
        return await tr.range_large(size)
    return await (tr.put_large(size) if name == "put-large" else tr.get_large(size))


def _progress(r: Result) -> None:
    extra = f" p50 {r.p50_ms:.2f} ms p99 {r.p99_ms:.2f} ms" if r.unit != "MB/s" else ""
    rss = f" rss≤{r.server_rss_max_mib:.0f}MiB" if r.server_rss_max_mib is not None else ""
    err = f" ERRORS={r.errors} ({r.first_error})" if r.errors else ""
    print(f"  [{r.target:>9}] {r.scenario:<14} {r.rate:>10.1f} {r.unit:<7} ops={r.ops} "
          f"{r.elapsed_s:.1f}s{extra} client-cpu {r.client_cpu_pct:.0f}%{rss}{err}",
          file=sys.stderr, flush=True)


async def cleanup_target(tr: TargetRun) -> None:
    """Delete every object version in the bench buckets, then the buckets."""
    for bucket in (tr.bucket, tr.list_bucket, *(f"{tr.trail_bucket}-{i + 1}" for i in range(tr._trails))):
        try:
            versions = await tr.client.list_versions(bucket)
        except Exception:  # noqa: BLE001 - bucket may not exist
            continue
        sem = asyncio.Semaphore(tr.cfg.concurrency)

        async def rm(b: str, k: str, v: str, sem: asyncio.Semaphore = sem) -> None:
            async with sem:
                await tr.client.delete(b, k, v)

        await asyncio.gather(*(rm(bucket, k, v) for k, v in versions))
        await tr.client.delete_bucket(bucket)


async def bench(a: argparse.Namespace, servers: dict[str, Server]) -> list[Result]:
    """Set up every target, then run each unit on every target, alternating who goes first."""
    cfg = Config(duration=a.duration, max_ops=a.ops, concurrency=a.concurrency,
                 list_concurrency=a.list_concurrency, large_sizes=a.sizes, large_reps=a.large_reps)
    run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
    runs = {name: TargetRun(srv, cfg, run_id) for name, srv in servers.items()}
    results: list[Result] = []
    try:
        for name, tr in runs.items():
            await tr.setup()
            print(f"  [{name:>9}] bucket {tr.bucket} created, versioning Enabled", file=sys.stderr)
        order = list(servers)
        for idx, (sc, size) in enumerate(plan(a.scenarios, a.sizes)):
            first = order if idx % 2 == 0 else order[::-1]
            if sc in INTERLEAVED and len(order) > 1:
                # one transfer per target per round, the order flipping every round: a large write leaves the
                # disk busy (writeback, the device's own caches) for a while, which would otherwise always
                # slow whichever target goes second
                parts: dict[str, list[Result]] = {name: [] for name in order}
                for rnd in range(a.large_reps):
                    for name in (first if rnd % 2 == 0 else first[::-1]):
                        await asyncio.sleep(a.pause)
                        runs[name].rep_limit = 1
                        r = await run_unit(runs[name], sc, size)
                        runs[name].rep_limit = None
                        if r is not None:
                            parts[name].append(r)
                merged = [merge_results(parts[name]) for name in first if parts[name]]
            else:
                merged = []
                for name in first:
                    await asyncio.sleep(a.pause)
                    r = await run_unit(runs[name], sc, size)
                    if r is not None:
                        merged.append(r)
            for r in merged:
                _progress(r)
                results.append(r)
        if a.cleanup:
            for tr in runs.values():
                await cleanup_target(tr)
    finally:
        for tr in runs.values():
            await tr.close()
    return results


def start_servers(a: argparse.Namespace, log_dir: Path, servers: dict[str, Server]) -> None:
    """Spawn the requested local servers (or register --endpoint), filling ``servers`` as they come up."""
    for t in a.targets:
        print(f"starting {t} ...", file=sys.stderr, flush=True)
        if t == "moto":
            servers[t] = spawn_moto(a.region, log_dir, a.moto_cmd, a.ready_timeout)
        elif t == "twinstore":
            servers[t] = spawn_twinstore(a.region, log_dir, a.twinstore_cmd, a.twinstore_arg, a.ready_timeout)
        elif t == "twinstore-plain":  # the same server with encryption at rest switched off
            servers[t] = spawn_twinstore(a.region, log_dir, a.twinstore_cmd,
                                         [*a.twinstore_arg, "--unencrypted-for-benchmarks"], a.ready_timeout,
                                         name=t)
        elif t == "null":
            servers[t] = spawn_null(a.region, log_dir, a.ready_timeout)
        else:
            servers[t] = Server("endpoint", a.endpoint.rstrip("/"), a.access_key, a.secret_key, a.region,
                                pid=a.server_pid)
        s = servers[t]
        print(f"  {t}: {s.endpoint} pid={s.pid} {shlex.join(s.argv)}", file=sys.stderr, flush=True)


def server_info(servers: dict[str, Server], results: list[Result]) -> dict[str, dict[str, Any]]:
    """Per-target pid, command, whole-run VmHWM and max sampled RSS."""
    out: dict[str, dict[str, Any]] = {}
    for name, s in servers.items():
        sampled = [r.server_rss_max_mib for r in results
                   if r.target == name and r.server_rss_max_mib is not None]
        out[name] = {"pid": s.pid, "endpoint": s.endpoint, "command": shlex.join(s.argv),
                     "vmhwm_mib": s.vmhwm_kib() / 1024 if s.pid else None,
                     "rss_max_mib": max(sampled, default=None)}
    return out


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    a = parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-logs-", dir="/tmp"))
    servers: dict[str, Server] = {}
    ok = False
    try:
        start_servers(a, log_dir, servers)
        loop_factory = None
        if not a.no_uvloop:
            try:
                import uvloop

                loop_factory = uvloop.new_event_loop
            except ImportError:
                pass
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            results = runner.run(bench(a, servers))
        srv_info = server_info(servers, results)
        client_hwm = status_kib(os.getpid(), "VmHWM") / 1024
        tables = report.build_tables(results, list(servers), {
            **srv_info,
            "(bench client)": {"pid": os.getpid(), "vmhwm_mib": client_hwm, "command": "python -m bench"},
        })
        report.print_tables(tables, plain=a.plain)
        for r in results:
            if r.scenario == "put-small-iam" and r.baseline_rate:
                print(f"{r.target}: put-small as an IAM user (managed + bucket policy) = {r.rate / r.baseline_rate:.0%}"
                      f" of put-small as the account root, measured interleaved in the same window "
                      f"({r.rate:.0f} vs {r.baseline_rate:.0f} ops/s)")
                if r.server_cpu_us_per_op and r.baseline_cpu_us_per_op:
                    print(f"{r.target}: server CPU per put, IAM user vs root: {r.server_cpu_us_per_op:.0f} vs "
                          f"{r.baseline_cpu_us_per_op:.0f} µs")
        busy = [r for r in results if r.client_cpu_pct > 85 and r.unit != "MB/s"]
        if busy:
            print(f"\nnote: load generator CPU > 85% in {len(busy)} measurement(s): the client may limit "
                  "those figures (try --targets null to see its ceiling).")
        if a.json:
            report.write_json(a.json, {
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "host": {"python": platform.python_version(), "cpus": os.cpu_count(),
                         "platform": platform.platform()},
                "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
                "large_sizes": [size_label(s) for s in a.sizes],
                "servers": srv_info,
                "client_vmhwm_mib": client_hwm,
                "results": [r.as_dict() for r in results],
            })
            print(f"\nJSON written to {a.json}")
        ok = not any(r.errors for r in results)
        return 0 if ok else 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - report, stop servers, keep logs
        print(f"\nbench failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    finally:
        for s in servers.values():
            s.stop()
        if (ok and not a.keep_logs) or not any(log_dir.iterdir()):
            shutil.rmtree(log_dir, ignore_errors=True)
        else:
            print(f"server logs: {log_dir}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
