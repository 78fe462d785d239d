"""`twinstore logs query`: run a Logs Insights query through a region's CloudWatch Logs API and print the rows
(StartQuery, then GetQueryResults until the query completes)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from datetime import datetime, timezone
from typing import Any

import click

from . import config as deployment_config

_SINCE = re.compile(r"^\s*(\d+)\s*(s|sec|m|min|h|hr|d|day|w|week)s?\s*$", re.I)
_UNIT_S = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400, "day": 86400, "w": 604800,
           "week": 604800}
TERMINAL = ("Complete", "Failed", "Cancelled", "Timeout", "Unknown")


def parse_since(text: str) -> int:
    m = _SINCE.match(text)
    if not m:
        raise click.BadParameter(f"expected a duration such as 30m, 1h, 2d; got {text!r}", param_hint="--since")
    return int(m.group(1)) * _UNIT_S[m.group(2).lower()]


def parse_time(text: str, hint: str) -> int:
    """Epoch seconds from epoch seconds or an ISO 8601 date/time (UTC unless it carries an offset)."""
    if text.isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"expected epoch seconds or ISO 8601, got {text!r}", param_hint=hint) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp())


def region_endpoint(data_dir: str, region: str) -> str:
    """The endpoint a running region registered in the deployment's global.db."""
    from ..meta.sqlite.global_store import SqliteGlobalStore
    path = os.path.join(data_dir, "global.db")
    if not os.path.exists(path):
        raise click.UsageError(f"no deployment in {data_dir} (no global.db); pass --endpoint or --data-dir")

    async def lookup() -> dict[str, str]:
        store = SqliteGlobalStore(path)
        try:
            return await store.region_endpoints()
        finally:
            await store.close()
    endpoints = asyncio.run(lookup())
    if region not in endpoints:
        known = ", ".join(sorted(endpoints)) or "none"
        raise click.UsageError(f"region {region} is not part of the deployment in {data_dir} (regions: {known})")
    return endpoints[region]


def credentials(data_dir: str) -> tuple[str, str]:
    akid, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if akid and secret:
        return akid, secret
    from ..auth.credentials import load_root_account
    root = load_root_account(data_dir)
    return root.access_key_id, root.secret_access_key


def caret(query: str, start: int, end: int) -> str:
    """The query line holding the error with ^^^ under the offending characters."""
    line_start = query.rfind("\n", 0, start) + 1
    line_end = query.find("\n", start)
    line = query[line_start:line_end if line_end >= 0 else len(query)]
    width = max(1, min(end, line_start + len(line) - 1) - start + 1)
    return f"  {line}\n  {' ' * (start - line_start)}{'^' * width}"


def run_query(client: Any, kwargs: dict[str, Any], timeout: float) -> dict[str, Any]:
    """StartQuery, then GetQueryResults (backing off up to 1 s) until the query is done."""
    qid = client.start_query(**kwargs)["queryId"]
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        res = client.get_query_results(queryId=qid)
        if res["status"] in TERMINAL:
            return dict(res)
        if time.monotonic() > deadline:
            client.stop_query(queryId=qid)
            raise click.ClickException(f"query {qid} did not complete within {timeout:g} s (stopped)")
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)


def print_table(rows: list[list[dict[str, str]]], show_ptr: bool) -> None:
    from rich.console import Console
    from rich.table import Table
    columns: list[str] = []
    for row in rows:
        for cell in row:
            if cell["field"] not in columns and (show_ptr or cell["field"] != "@ptr"):
                columns.append(cell["field"])
    table = Table(show_lines=False)
    for c in columns:
        table.add_column(c, overflow="fold")
    for row in rows:
        values = {cell["field"]: cell["value"] for cell in row}
        table.add_row(*[values.get(c, "") for c in columns])
    console = Console(width=max(Console().width, 160))
    console.print(table)
    console.print(f"{len(rows)} row{'s' if len(rows) != 1 else ''}")


@click.group()
def logs() -> None:
    """CloudWatch Logs of a twinstore region."""


@logs.command("query")
@click.option("--region", required=True, help="Region whose log group to query, e.g. us-east-2.")
@click.option("--log-group", "log_groups", required=True, multiple=True, help="Log group name (repeatable).")
@click.option("--since", default=None, help="Time range ending now, e.g. 15m, 1h, 7d (default 1h).")
@click.option("--start", help="Start of the range: epoch seconds or ISO 8601 (instead of --since).")
@click.option("--end", help="End of the range: epoch seconds or ISO 8601 (default now).")
@click.option("--limit", type=click.IntRange(1, 10_000), help="Maximum rows (StartQuery limit).")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON objects instead of a table.")
@click.option("--show-ptr", is_flag=True, help="Show the @ptr column in the table.")
@click.option("--endpoint-url", "--endpoint", "endpoint",
              help="Endpoint URL (default: AWS_ENDPOINT_URL, else looked up in the deployment data dir).")
@click.option("--data-dir", default=deployment_config.DEFAULT_DATA_DIR, show_default=True,
              help="Deployment data directory (region endpoints, root credentials).")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for the query.")
@click.argument("query")
def query_cmd(region: str, log_groups: tuple[str, ...], since: str | None, start: str | None, end: str | None,
              limit: int | None, as_json: bool, show_ptr: bool, endpoint: str | None, data_dir: str, timeout: float,
              query: str) -> None:
    """Run a Logs Insights QUERY over --log-group and print the results."""
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import ClientError, EndpointConnectionError

    if since and start:
        raise click.UsageError("use either --since or --start/--end")
    end_s = parse_time(end, "--end") if end else int(time.time())
    start_s = parse_time(start, "--start") if start else end_s - parse_since(since or "1h")
    if start_s > end_s:
        raise click.UsageError("the start of the range is after its end")
    url = endpoint or os.environ.get("AWS_ENDPOINT_URL") or region_endpoint(data_dir, region)
    akid, secret = credentials(data_dir)
    client = botocore.session.get_session().create_client(
        "logs", region_name=region, endpoint_url=url, aws_access_key_id=akid, aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 3, "mode": "standard"}))
    kwargs: dict[str, Any] = {"startTime": start_s, "endTime": end_s, "queryString": query}
    if len(log_groups) > 1:
        kwargs["logGroupNames"] = list(log_groups)
    else:
        kwargs["logGroupName"] = log_groups[0]
    if limit:
        kwargs["limit"] = limit
    try:
        res = run_query(client, kwargs, timeout)
    except ClientError as e:
        err = e.response.get("Error", {})
        msg = f"{err.get('Code')}: {err.get('Message')}"
        loc = e.response.get("queryCompileError", {}).get("location")
        if loc:
            msg += "\n" + caret(query, int(loc["startCharOffset"]), int(loc["endCharOffset"]))
        raise click.ClickException(msg) from None
    except EndpointConnectionError:
        raise click.ClickException(f"cannot reach region {region} at {url}") from None
    if res["status"] != "Complete":
        raise click.ClickException(f"query {res['status']}")
    rows = res.get("results", [])
    if as_json:
        click.echo(json.dumps([{c["field"]: c["value"] for c in row} for row in rows], indent=2))
    else:
        print_table(rows, show_ptr)
    st = res.get("statistics") or {}
    if not as_json:
        click.echo(f"records matched {st.get('recordsMatched', 0):.0f}, scanned {st.get('recordsScanned', 0):.0f}",
                   err=True)
    sys.stdout.flush()

