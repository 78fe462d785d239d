"""Secret access keys and session tokens never reach the region processes' logs (stdout and stderr)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import allow, doc, make_user, session_client, uname


def test_secrets_never_in_logs(east: Any, west: Any, iam: Any) -> None:
    user = make_user(iam, allow("sts:AssumeRole"))
    role = iam.create_role(RoleName=uname("log"), AssumeRolePolicyDocument=doc({
        "Effect": "Allow", "Principal": {"AWS": user.arn}, "Action": "sts:AssumeRole"}))["Role"]
    creds = user.client(west, "sts").assume_role(RoleArn=role["Arn"], RoleSessionName="logs")["Credentials"]
    secrets = [user.secret_key, creds["SecretAccessKey"], creds["SessionToken"]]
    for region in (east, west):
        session_client(region, creds, "sts").get_caller_identity()
        with pytest.raises(ClientError):
            session_client(region, creds).list_buckets()
        with pytest.raises(ClientError):  # a wrong signature with a real key id
            region.client(access_key=user.access_key, secret_key=user.secret_key[::-1]).list_buckets()
        with pytest.raises(ClientError):
            region.client("iam", access_key=user.access_key, secret_key=user.secret_key).create_user(
                UserName=uname("x"))
    for region in (east, west):
        with open(region.log_path, errors="replace") as f:
            text = f.read()
        for s in secrets:
            assert s not in text


def test_secret_files_are_private(deployment: Any, iam: Any) -> None:
    import os
    import stat
    make_user(iam)  # iam.db and its WAL exist
    assert os.path.exists(os.path.join(deployment.data_dir, "iam.db-wal"))
    for name in ("iam.db", "iam.db-wal", "sts-secret.key"):
        assert stat.S_IMODE(os.stat(os.path.join(deployment.data_dir, name)).st_mode) == 0o600, name
