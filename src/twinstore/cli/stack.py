"""`twinstore stack deploy|delete`: a stack operation through a region's CloudFormation API, its events printed
as they happen (a live table on a terminal, one line per event otherwise)."""

from __future__ import annotations

import os
import time
from typing import Any

import botocore.session
import click
from botocore.config import Config
from botocore.exceptions import ClientError
from rich.console import Console
from rich.live import Live
from rich.table import Table

from ..auth.credentials import load_root_account
from . import config as deployment_config

POLL_S = 0.5
_COLORS = {"COMPLETE": "green", "FAILED": "red", "IN_PROGRESS": "yellow", "SKIPPED": "cyan"}


def _color(status: str) -> str:
    for suffix, color in _COLORS.items():
        if status.endswith(suffix):
            return f"[{color}]{status}[/{color}]"
    return status


def cloudformation_client(region: str, endpoint_url: str | None, config_file: str | None,
                          data_dir: str | None) -> Any:
    """A client for `region`: endpoint from --endpoint-url, AWS_ENDPOINT_URL or the deployment config;
    credentials from the AWS_* environment or the deployment's root credentials."""
    dep = deployment_config.load(config_file, data_dir, (), None)
    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        if region not in dep.regions:
            raise click.BadParameter(f"region {region} is not in the deployment ({', '.join(dep.regions)})")
        host, port = dep.regions[region]
        endpoint = f"http://{host}:{port}"
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not (key and secret):
        root = load_root_account(dep.data_dir)
        key, secret = root.access_key_id, root.secret_access_key
    return botocore.session.get_session().create_client(
        "cloudformation", region_name=region, endpoint_url=endpoint, aws_access_key_id=key,
        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 5, "mode": "standard"}))


class EventPrinter:
    """Polls a stack's events and shows the new ones, oldest first, until the stack settles."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.seen: set[str] = set()
        self.table = Table(show_lines=False)
        for col in ("time", "logical id", "type", "status", "reason"):
            self.table.add_column(col, overflow="fold")

    def poll(self, cf: Any, stack_id: str) -> None:
        new = []
        for page in cf.get_paginator("describe_stack_events").paginate(StackName=stack_id):
            batch = [e for e in page["StackEvents"] if e["EventId"] not in self.seen]
            new += batch
            if len(batch) < len(page["StackEvents"]):
                break
        for e in reversed(new):
            self.seen.add(e["EventId"])
            row = (e["Timestamp"].strftime("%H:%M:%S"), e["LogicalResourceId"], e["ResourceType"],
                   _color(e["ResourceStatus"]), e.get("ResourceStatusReason", ""))
            self.table.add_row(*row)
            if not self.console.is_terminal:
                self.console.print(" | ".join(str(c) for c in row), highlight=False, soft_wrap=True)

    def follow(self, cf: Any, stack_id: str) -> dict[str, Any]:
        def settle(live: Live | None) -> dict[str, Any]:
            while True:
                stack = cf.describe_stacks(StackName=stack_id)["Stacks"][0]
                self.poll(cf, stack_id)
                if live is not None:
                    live.update(self.table)
                if not stack["StackStatus"].endswith("_IN_PROGRESS"):
                    return dict(stack)
                time.sleep(POLL_S)
        if self.console.is_terminal:
            with Live(self.table, console=self.console, refresh_per_second=4) as live:
                return settle(live)
        return settle(None)


def _fail(console: Console, e: ClientError) -> None:
    err = e.response.get("Error", {})
    console.print(f"[red]{err.get('Code')}: {err.get('Message')}[/red]")
    raise SystemExit(1)


_common = [
    click.option("--region", required=True, help="Region of the stack, e.g. us-east-2."),
    click.option("--stack-name", required=True),
    click.option("--endpoint-url", help="Region endpoint (default: AWS_ENDPOINT_URL, else the deployment config)."),
    click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), help="TOML config."),
    click.option("--data-dir", help="Deployment data directory (for the root credentials)."),
]


def common(fn: Any) -> Any:
    for opt in reversed(_common):
        fn = opt(fn)
    return fn


@click.group()
def stack() -> None:
    """Deploy and delete CloudFormation stacks."""


@stack.command()
@common
@click.option("--template", "template_file", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="A template parameter; repeatable.")
@click.option("--capabilities", multiple=True, help="Capabilities to acknowledge (default: those the template "
                                                    "requires, as ValidateTemplate reports them).")
@click.option("--on-failure", type=click.Choice(["ROLLBACK", "DO_NOTHING", "DELETE"]), default="ROLLBACK",
              show_default=True)
def deploy(region: str, stack_name: str, endpoint_url: str | None, config_file: str | None, data_dir: str | None,
           template_file: str, params: tuple[str, ...], capabilities: tuple[str, ...], on_failure: str) -> None:
    """Create a stack and print its events until it settles; exit 1 unless CREATE_COMPLETE."""
    console = Console()
    parameters = []
    for p in params:
        key, sep, value = p.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {p!r}", param_hint="--param")
        parameters.append({"ParameterKey": key, "ParameterValue": value})
    with open(template_file, encoding="utf-8") as f:
        body = f.read()
    cf = cloudformation_client(region, endpoint_url, config_file, data_dir)
    try:
        caps = list(capabilities)
        if not caps:
            checked = cf.validate_template(TemplateBody=body)
            caps = checked.get("Capabilities", [])
            if caps:
                console.print(f"acknowledging {', '.join(caps)}: {checked.get('CapabilitiesReason', '')}")
        stack_id = cf.create_stack(StackName=stack_name, TemplateBody=body, Parameters=parameters,
                                   Capabilities=caps, OnFailure=on_failure)["StackId"]
    except ClientError as e:
        _fail(console, e)
    console.print(f"stack {stack_id}")
    final = EventPrinter(console).follow(cf, stack_id)
    for o in final.get("Outputs", []):
        console.print(f"output {o['OutputKey']} = {o['OutputValue']}", highlight=False)
    console.print(f"{stack_name}: {_color(final['StackStatus'])}")
    raise SystemExit(0 if final["StackStatus"] == "CREATE_COMPLETE" else 1)


@stack.command()
@common
@click.option("--retain", "retain", multiple=True, help="Logical id to keep (only after DELETE_FAILED).")
def delete(region: str, stack_name: str, endpoint_url: str | None, config_file: str | None, data_dir: str | None,
           retain: tuple[str, ...]) -> None:
    """Delete a stack and print its events until it settles; exit 1 unless DELETE_COMPLETE."""
    console = Console()
    cf = cloudformation_client(region, endpoint_url, config_file, data_dir)
    try:
        stack_id = cf.describe_stacks(StackName=stack_name)["Stacks"][0]["StackId"]
        printer = EventPrinter(console)
        for page in cf.get_paginator("describe_stack_events").paginate(StackName=stack_id):
            printer.seen.update(e["EventId"] for e in page["StackEvents"])  # only this deletion's events
        cf.delete_stack(StackName=stack_id, **({"RetainResources": list(retain)} if retain else {}))
    except ClientError as e:
        _fail(console, e)
    final = printer.follow(cf, stack_id)
    console.print(f"{stack_name}: {_color(final['StackStatus'])}")
    raise SystemExit(0 if final["StackStatus"] == "DELETE_COMPLETE" else 1)
