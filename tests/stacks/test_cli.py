"""`twinstore stack deploy` / `twinstore stack delete` against real regions."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from harness import base_env, create_bucket, unique_bucket
from stackutil import unique

TEMPLATE = """
Parameters:
  NamingPrefix: {Type: String, AllowedPattern: '[a-z0-9-]{5,40}'}
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub '${NamingPrefix}-cli-${AWS::Region}'
      VersioningConfiguration: {Status: Enabled}
Outputs:
  S3BucketName: {Value: !Ref Bucket}
"""


def twinstore(deployment: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = base_env()
    for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(k, None)
    return subprocess.run([sys.executable, "-m", "twinstore.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=300)


def test_deploy_and_delete_in_two_regions(deployment: Any, tmp_path: Any) -> None:
    path = tmp_path / "stack.yaml"
    path.write_text(TEMPLATE)
    prefix = unique_bucket("cli")[:30]
    name = unique("cli")
    for region in ("us-east-2", "us-west-2"):
        res = twinstore(deployment, "stack", "deploy", "--region", region, "--stack-name", name, "--template",
                        str(path), "--param", f"NamingPrefix={prefix}", "--endpoint-url",
                        deployment[region].endpoint, "--data-dir", deployment.data_dir)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "Bucket | AWS::S3::Bucket | CREATE_COMPLETE" in res.stdout
        assert f"output S3BucketName = {prefix}-cli-{region}" in res.stdout
        assert f"{name}: CREATE_COMPLETE" in res.stdout
        s3 = deployment[region].client()
        assert s3.get_bucket_versioning(Bucket=f"{prefix}-cli-{region}")["Status"] == "Enabled"
    for region in ("us-east-2", "us-west-2"):
        res = twinstore(deployment, "stack", "delete", "--region", region, "--stack-name", name, "--endpoint-url",
                        deployment[region].endpoint, "--data-dir", deployment.data_dir)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "Bucket | AWS::S3::Bucket | DELETE_COMPLETE" in res.stdout
        assert "CREATE_COMPLETE" not in res.stdout  # only the deletion's events
        names = {b["Name"] for b in deployment[region].client().list_buckets()["Buckets"]}
        assert f"{prefix}-cli-{region}" not in names


def test_deploy_failure_exits_nonzero_with_the_reason(deployment: Any, tmp_path: Any) -> None:
    east = deployment["us-east-2"]
    prefix = unique_bucket("clf")[:30]
    create_bucket(east.client(), "us-east-2", f"{prefix}-cli-us-east-2")
    path = tmp_path / "stack.yaml"
    path.write_text(TEMPLATE)
    res = twinstore(deployment, "stack", "deploy", "--region", "us-east-2", "--stack-name", unique("clf"),
                    "--template", str(path), "--param", f"NamingPrefix={prefix}", "--endpoint-url", east.endpoint,
                    "--data-dir", deployment.data_dir)
    assert res.returncode == 1
    assert f"CREATE_FAILED | {prefix}-cli-us-east-2 already exists" in res.stdout
    assert "ROLLBACK_COMPLETE" in res.stdout
    bad = twinstore(deployment, "stack", "deploy", "--region", "us-east-2", "--stack-name", unique("clf"),
                    "--template", str(path), "--param", "NamingPrefix=UPPER", "--endpoint-url", east.endpoint,
                    "--data-dir", deployment.data_dir)
    assert bad.returncode == 1 and "ValidationError: Parameter 'NamingPrefix' must match pattern" in bad.stdout
    assert os.path.exists(path)
