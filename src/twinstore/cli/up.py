"""`twinstore up`: one OS process per region, supervised; prints how to reach each once all are healthy."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

from rich.console import Console
from rich.table import Table

from ..auth.credentials import RootAccount
from .config import Deployment

HEALTH_TIMEOUT_S = 60


def region_command(name: str, host: str, port: int, data_dir: str, account_id: str | None) -> list[str]:
    cmd = [sys.executable, "-m", "twinstore.cli.main", "server", "--region", name, "--listen", f"{host}:{port}",
           "--data-dir", data_dir]
    if account_id:
        cmd += ["--account-id", account_id]
    return cmd


def healthy(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/_twinstore/health", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def wait_healthy(dep: Deployment, procs: dict[str, subprocess.Popen[bytes]], timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    pending = set(dep.regions)
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            host, port = dep.regions[name]
            if procs[name].poll() is not None:
                return [name]
            if healthy(host, port):
                pending.discard(name)
        time.sleep(0.05)
    return sorted(pending)


def print_banner(console: Console, dep: Deployment, root: RootAccount) -> None:
    table = Table(title="twinstore regions", show_lines=False)
    table.add_column("region")
    table.add_column("endpoint")
    table.add_column("data")
    for name, (host, port) in dep.regions.items():
        table.add_row(name, f"http://{host}:{port}", os.path.join(dep.data_dir, "regions", name))
    console.print(table)
    console.print(f"account {root.account_id}   access key [bold]{root.access_key_id}[/bold]   "
                  f"secret [bold]{root.secret_access_key}[/bold]", soft_wrap=True)
    first, (host, port) = next(iter(dep.regions.items()))
    console.print("\nPoint the AWS CLI or boto3 at a region:")
    console.print(f"  export AWS_ENDPOINT_URL=http://{host}:{port} AWS_REGION={first} AWS_DEFAULT_REGION={first} "
                  f"AWS_ACCESS_KEY_ID={root.access_key_id} AWS_SECRET_ACCESS_KEY={root.secret_access_key}", soft_wrap=True)
    console.print(f"  aws s3 mb s3://my-bucket     # or boto3.client('s3', endpoint_url='http://{host}:{port}', "
                  f"region_name='{first}')", soft_wrap=True)
    console.print("\n[green]ready[/green] (Ctrl-C stops every region)")


def run(dep: Deployment, root: RootAccount) -> int:
    console = Console()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def start(name: str) -> None:
        host, port = dep.regions[name]
        procs[name] = subprocess.Popen(region_command(name, host, port, dep.data_dir, dep.account_id))

    def stop_all(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)
    for name in dep.regions:
        start(name)
    failed = wait_healthy(dep, procs, HEALTH_TIMEOUT_S)
    if failed:
        console.print(f"[red]region(s) {', '.join(failed)} did not become healthy[/red]")
        _terminate(procs)
        return 1
    print_banner(console, dep, root)
    restarts: dict[str, float] = {}
    while not stopping:
        time.sleep(0.2)
        for name, p in list(procs.items()):
            if p.poll() is not None and not stopping:
                console.print(f"[yellow]region {name} exited with {p.returncode}; restarting[/yellow]")
                if time.monotonic() - restarts.get(name, 0) < 1:
                    time.sleep(1)
                restarts[name] = time.monotonic()
                start(name)
    console.print("stopping...")
    _terminate(procs)
    return 0


def _terminate(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for p in procs.values():
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
