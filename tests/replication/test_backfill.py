"""Batch replication (`twinstore replication backfill`): versions written before the rule, FAILED ones with
--include-failed, progress and status through the CLI, and a job that resumes after kill -9."""

from __future__ import annotations

import subprocess
import sys
from typing import Any


from harness import Deployment, base_env, create_bucket
from replication_helpers import replicate, rule_v2, status, versions, wait_for, wait_status


def cli(data_dir: str, *args: str) -> str:
    env = dict(base_env(), COLUMNS="300")
    res = subprocess.run([sys.executable, "-m", "twinstore.cli.main", "replication", *args, "--data-dir", data_dir],
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr + res.stdout
    return res.stdout


def test_backfill_existing_and_failed(deployment: Deployment, east: Any, west: Any) -> None:
    s3e, s3w = east.client(), west.client()
    eb = create_bucket(s3e, "us-east-2", versioned=True)
    wb = create_bucket(s3w, "us-west-2", versioned=True)
    before = [s3e.put_object(Bucket=eb, Key=f"old/{i}", Body=b"o")["VersionId"] for i in range(30)]
    replicate(s3e, eb, "us-east-2", rule_v2(wb, "r"))
    s3w.put_bucket_versioning(Bucket=wb, VersioningConfiguration={"Status": "Suspended"})
    s3e.put_object(Bucket=eb, Key="failed", Body=b"f")
    wait_status(s3e, eb, "failed", "FAILED")
    assert "DstBucketUnversioned" in cli(deployment.data_dir, "status")
    s3w.put_bucket_versioning(Bucket=wb, VersioningConfiguration={"Status": "Enabled"})

    out = cli(deployment.data_dir, "backfill", "--bucket", eb)
    assert "completed" in out and "queued 30" in out
    wait_for(lambda: len(versions(s3w, wb)) == 30, what="old versions replicated")
    assert sorted(vid for _, vid, *_ in versions(s3w, wb)) == sorted(before)
    wait_status(s3e, eb, "old/0", "COMPLETED")
    assert status(s3e, eb, "failed") == "FAILED"  # not re-driven without --include-failed

    out = cli(deployment.data_dir, "backfill", "--bucket", eb, "--include-failed")
    assert "queued 1" in out
    wait_status(s3e, eb, "failed", "COMPLETED")
    assert status(s3w, wb, "failed") == "REPLICA"
    table = cli(deployment.data_dir, "status")
    assert eb in table and "Backfill jobs" in table


def test_backfill_resumes_after_kill9(own_deployment: Deployment) -> None:
    s3e, s3w = own_deployment["us-east-2"].client(), own_deployment["us-west-2"].client()
    eb = create_bucket(s3e, "us-east-2", versioned=True)
    wb = create_bucket(s3w, "us-west-2", versioned=True)
    for i in range(1500):
        s3e.put_object(Bucket=eb, Key=f"k/{i:05d}", Body=b"x")
    replicate(s3e, eb, "us-east-2", rule_v2(wb))
    cli(own_deployment.data_dir, "backfill", "--bucket", eb, "--no-wait")
    own_deployment["us-east-2"].kill9()
    own_deployment["us-east-2"].start()
    s3e = own_deployment["us-east-2"].client()
    wait_for(lambda: len(versions(s3w, wb)) == 1500, timeout=120, what="all versions replicated after restart")
    assert versions(s3e, eb) == versions(s3w, wb)
