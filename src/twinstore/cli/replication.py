"""`twinstore replication status|backfill`: the replication admin API of each region, as readable tables."""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode, urlsplit

import click

from ..auth.credentials import load_root_account
from ..meta.sqlite.global_store import SqliteGlobalStore
from ..replication.signer import EMPTY_SHA256, sign
from . import config as deployment_config


def _endpoints(data_dir: str) -> dict[str, str]:
    path = os.path.join(data_dir, "global.db")
    if not os.path.exists(path):
        raise click.ClickException(f"no deployment in {data_dir} (global.db missing)")

    async def read() -> dict[str, str]:
        store = SqliteGlobalStore(path)
        try:
            return await store.region_endpoints()
        finally:
            await store.close()
    return asyncio.run(read())


async def _bucket_region(data_dir: str, bucket: str) -> str | None:
    store = SqliteGlobalStore(os.path.join(data_dir, "global.db"))
    try:
        reg = await store.lookup_bucket(bucket)
        return reg.region if reg is not None and reg.state == "active" else None
    finally:
        await store.close()


def call(data_dir: str, region: str, endpoint: str, method: str, path: str,
         query: dict[str, str] | None = None) -> Any:
    """A SigV4-signed call (root credentials) to a region's admin API; returns the JSON answer."""
    cred = load_root_account(data_dir).credential()
    headers = sign(method, urlsplit(endpoint).netloc, path, query or {}, {}, cred, region, EMPTY_SHA256)
    url = endpoint + path + ("?" + urlencode(query) if query else "")
    req = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise click.ClickException(f"{region}: {e.code} {e.read().decode(errors='replace')}") from None
    except OSError as e:
        raise click.ClickException(f"{region} ({endpoint}) unreachable: {e}") from None


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def render_status(statuses: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    console = Console()
    table = Table(title="Replication (per source bucket, rule and destination)")
    for col in ("region", "source bucket", "rule", "destination", "pending ops", "pending bytes", "oldest pending",
                "failed ops", "replicated (since start)"):
        table.add_column(col)
    for region, st in statuses.items():
        if "error" in st:
            table.add_row(region, f"[red]{st['error']}[/red]", "", "", "", "", "", "", "")
            continue
        rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        for kind in ("pending", "failed", "replicated"):
            for r in st[kind]:
                rows.setdefault((r["bucket"], r["rule_id"], r["destination"]), {})[kind] = r
        for (bucket, rule, dest), r in sorted(rows.items()):
            p, f, d = r.get("pending", {}), r.get("failed", {}), r.get("replicated", {})
            table.add_row(region, bucket, rule, dest, str(p.get("operations", 0)), _size(p.get("bytes", 0)),
                          f"{p['oldest_seconds']:.1f} s" if p else "-",
                          f"[red]{f['operations']}[/red]" if f else "0", str(d.get("operations", 0)))
    console.print(table)
    failures = [(region, f) for region, st in statuses.items() for f in st.get("recent_failures", [])]
    if failures:
        ft = Table(title="Recent permanent failures (FAILED)")
        for col in ("region", "bucket", "key", "version", "destination", "reason"):
            ft.add_column(col)
        for region, f in failures:
            ft.add_row(region, f["bucket"], f["key"], f["version_id"], f["destination"], f"[red]{f['reason']}[/red]")
        console.print(ft)
    jobs = [(region, j) for region, st in statuses.items() for j in st.get("jobs", [])]
    if jobs:
        jt = Table(title="Backfill jobs")
        for col in ("region", "job", "bucket", "state", "progress", "scanned", "queued"):
            jt.add_column(col)
        for region, j in jobs:
            total = max(j["total"], j["scanned"], 1)
            done = total if j["state"] == "completed" else j["scanned"]
            jt.add_row(region, j["job_id"][:8], j["spec"]["bucket"], j["state"],
                       ProgressBar(total=total, completed=done, width=30), f"{j['scanned']}/{j['total']}",
                       str(j["queued"]))
        console.print(jt)


@click.group()
def replication() -> None:
    """Replication status and batch (backfill) jobs."""


@replication.command()
@click.option("--data-dir", default=deployment_config.DEFAULT_DATA_DIR, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON of each region.")
def status(data_dir: str, as_json: bool) -> None:
    """Pending, failed and replicated operations per rule and destination, failures with reasons, jobs."""
    out: dict[str, Any] = {}
    for region, endpoint in sorted(_endpoints(data_dir).items()):
        try:
            out[region] = call(data_dir, region, endpoint, "GET", "/_twinstore/replication/status")
        except click.ClickException as e:
            out[region] = {"error": e.message}
    if as_json:
        click.echo(json.dumps(out, indent=2))
    else:
        render_status(out)


@replication.command()
@click.option("--data-dir", default=deployment_config.DEFAULT_DATA_DIR, show_default=True)
@click.option("--bucket", required=True, help="Source bucket (it must have a replication configuration).")
@click.option("--include-failed", is_flag=True, help="Also re-drive versions whose replication FAILED.")
@click.option("--include-replicas", is_flag=True, help="Also send replicas onward (they are skipped otherwise).")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the job with a progress bar.")
def backfill(data_dir: str, bucket: str, include_failed: bool, include_replicas: bool, wait: bool) -> None:
    """Replicate versions written before the rule existed (S3 Batch Replication); resumable across restarts."""
    region = asyncio.run(_bucket_region(data_dir, bucket))
    if region is None:
        raise click.ClickException(f"no bucket {bucket} in this deployment")
    endpoint = _endpoints(data_dir)[region]
    job = call(data_dir, region, endpoint, "POST", "/_twinstore/replication/backfill",
               {"bucket": bucket, "include-failed": str(include_failed).lower(),
                "include-replicas": str(include_replicas).lower()})
    click.echo(f"job {job['job_id']} started in {region} ({job['total']} versions to scan)")
    if not wait:
        return
    from rich.progress import Progress
    with Progress() as progress:
        task = progress.add_task(f"backfill {bucket}", total=max(job["total"], 1))
        while True:
            jobs = call(data_dir, region, endpoint, "GET", "/_twinstore/replication/jobs")
            cur = next(j for j in jobs if j["job_id"] == job["job_id"])
            progress.update(task, total=max(cur["total"], cur["scanned"], 1), completed=cur["scanned"])
            if cur["state"] != "running":
                break
            time.sleep(0.3)
    click.echo(f"job {cur['job_id']}: {cur['state']}, scanned {cur['scanned']}, queued {cur['queued']}")
