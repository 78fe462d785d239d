"""Helpers for stack tests: waiting for a stack to settle, reading its events, probing for services."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

TERMINAL_WAIT_S = 120


def unique(prefix: str = "st") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_settled(cf: Any, stack: str, timeout: float = TERMINAL_WAIT_S) -> dict[str, Any]:
    """The stack once its status is no longer *_IN_PROGRESS (by name or id)."""
    deadline = time.monotonic() + timeout
    while True:
        s = cf.describe_stacks(StackName=stack)["Stacks"][0]
        if not s["StackStatus"].endswith("_IN_PROGRESS"):
            return dict(s)
        if time.monotonic() > deadline:
            raise AssertionError(f"stack {stack} still {s['StackStatus']}")
        time.sleep(0.1)


def events(cf: Any, stack: str) -> list[tuple[str, str, str]]:
    """(logical id, status, reason) oldest first."""
    out: list[tuple[str, str, str]] = []
    for page in cf.get_paginator("describe_stack_events").paginate(StackName=stack):
        out += [(e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason", ""))
                for e in page["StackEvents"]]
    return list(reversed(out))


def outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def validation_error(cf: Any, **kwargs: Any) -> str:
    """The message of the ValidationError ValidateTemplate answers."""
    with pytest.raises(ClientError) as e:
        cf.validate_template(**kwargs)
    assert e.value.response["Error"]["Code"] == "ValidationError", e.value.response
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(e.value.response["Error"]["Message"])


def create_error(cf: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as e:
        cf.create_stack(**kwargs)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def deploy(cf: Any, body: str, params: dict[str, str] | None = None, name: str | None = None,
           **kwargs: Any) -> dict[str, Any]:
    """Creates a stack and waits for it to settle; returns the described stack."""
    name = name or unique()
    stack_id = cf.create_stack(StackName=name, TemplateBody=body, Parameters=[
        {"ParameterKey": k, "ParameterValue": v} for k, v in (params or {}).items()], **kwargs)["StackId"]
    return wait_settled(cf, stack_id)


def delete(cf: Any, stack_id: str, **kwargs: Any) -> dict[str, Any]:
    cf.delete_stack(StackName=stack_id, **kwargs)
    return wait_settled(cf, stack_id)


