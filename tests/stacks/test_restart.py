"""A region killed (-9) in the middle of a stack operation finishes it after restarting: an interrupted creation
is rolled back (deleting what it had made, nothing else), an interrupted deletion is carried on."""

from __future__ import annotations

import shutil
import time
from typing import Any, Iterator

import pytest
from harness import Deployment
from stackutil import events, unique, wait_settled

CHAIN = 25


def chain_template(prefix: str) -> str:
    """Buckets created one after another (each DependsOn the previous): the operation takes a while."""
    out = "Resources:\n"
    for i in range(CHAIN):
        out += f"  B{i}:\n    Type: AWS::S3::Bucket\n    Properties: {{BucketName: {prefix}-{i}}}\n"
        if i:
            out += f"    DependsOn: B{i - 1}\n"
    return out


@pytest.fixture()
def solo() -> Iterator[Deployment]:
    dep = Deployment(("us-east-2",)).start()
    yield dep
    dep.stop()
    shutil.rmtree(dep.data_dir, ignore_errors=True)


def _buckets(region: Any, prefix: str) -> set[str]:
    return {b["Name"] for b in region.client().list_buckets()["Buckets"] if b["Name"].startswith(prefix)}


def _wait_for_event(cf: Any, stack: str, status: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while sum(1 for e in events(cf, stack) if e[1] == status) < count:
        assert time.monotonic() < deadline, events(cf, stack)
        time.sleep(0.02)


@pytest.mark.parametrize("how", ["kill9", "stop"])
def test_interrupted_create_rolls_back_after_restart(solo: Deployment, how: str) -> None:
    region = solo["us-east-2"]
    prefix = unique("rs")
    cf = region.client("cloudformation")
    stack_id = cf.create_stack(StackName=unique(), TemplateBody=chain_template(prefix))["StackId"]
    _wait_for_event(cf, stack_id, "CREATE_COMPLETE", 3)
    region.kill9() if how == "kill9" else region.stop()
    region.start()
    cf = region.client("cloudformation")
    s = wait_settled(cf, stack_id)
    if s["StackStatus"] == "CREATE_COMPLETE":  # it raced to the end before the kill: nothing to resume
        assert len(_buckets(region, prefix)) == CHAIN
        return
    assert s["StackStatus"] == "ROLLBACK_COMPLETE", events(cf, stack_id)
    assert _buckets(region, prefix) == set()  # what it made is gone
    evs = events(cf, stack_id)
    assert any("region restarted" in e[2] for e in evs if e[1] == "CREATE_FAILED") or \
        any("interrupted" in e[2] for e in evs), evs
    cf.delete_stack(StackName=stack_id)
    assert wait_settled(cf, stack_id)["StackStatus"] == "DELETE_COMPLETE"


def test_interrupted_delete_is_carried_on_after_restart(solo: Deployment) -> None:
    region = solo["us-east-2"]
    prefix = unique("rd")
    cf = region.client("cloudformation")
    stack_id = cf.create_stack(StackName=unique(), TemplateBody=chain_template(prefix))["StackId"]
    assert wait_settled(cf, stack_id)["StackStatus"] == "CREATE_COMPLETE"
    cf.delete_stack(StackName=stack_id)
    _wait_for_event(cf, stack_id, "DELETE_COMPLETE", 3)
    region.kill9()
    region.start()
    cf = region.client("cloudformation")
    assert wait_settled(cf, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    assert _buckets(region, prefix) == set()
