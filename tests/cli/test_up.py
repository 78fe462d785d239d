"""`twinstore up`, `twinstore credentials` and the TOML config, as a user runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import boto3
import pytest

from harness import base_env, free_port


def _env() -> dict[str, str]:
    env = base_env()
    for k in ("TWINSTORE_ROOT_ACCESS_KEY_ID", "TWINSTORE_ROOT_SECRET_ACCESS_KEY", "TWINSTORE_ACCOUNT_ID"):
        env.pop(k, None)
    env["COLUMNS"] = "200"
    return env


def _start_up(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "twinstore.cli.main", "up", *args], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_ready(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    assert proc.stdout is not None
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        out.append(line)
        if "ready" in line:
            return "".join(out)
    proc.kill()
    raise AssertionError("twinstore up never became ready:\n" + "".join(out))


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(timeout=30)


def _credentials(data_dir: str) -> dict[str, str]:
    res = subprocess.run([sys.executable, "-m", "twinstore.cli.main", "credentials", "--data-dir", data_dir],
                         env=_env(), capture_output=True, text=True, check=True)
    return dict(line.split("=", 1) for line in res.stdout.strip().splitlines())


def _client(port: int, region: str, creds: dict[str, str]) -> Any:
    return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name=region,
                        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"])


def test_up_starts_regions_prints_access_and_keeps_data(tmp_path: Any) -> None:
    data = str(tmp_path / "data")
    pe, pw = free_port(), free_port()
    args = ["--data-dir", data, "--region", f"us-east-2=127.0.0.1:{pe}", "--region", f"us-west-2=127.0.0.1:{pw}"]
    proc = _start_up(args)
    banner = _wait_ready(proc)
    creds = _credentials(data)
    assert creds["AWS_ACCESS_KEY_ID"] in banner and creds["AWS_SECRET_ACCESS_KEY"] in banner
    assert f"http://127.0.0.1:{pe}" in banner and f"http://127.0.0.1:{pw}" in banner
    assert "AWS_ENDPOINT_URL" in banner and "us-west-2" in banner
    # the printed export line, pasted into a shell with no AWS config, is enough for the AWS CLI (v1 reads
    # AWS_DEFAULT_REGION, v2 and other SDKs AWS_REGION) and is not wrapped mid-assignment
    export = next(line for line in banner.splitlines() if line.strip().startswith("export AWS_ENDPOINT_URL"))
    assigned = dict(part.split("=", 1) for part in export.split()[1:])
    assert assigned["AWS_DEFAULT_REGION"] == assigned["AWS_REGION"] == "us-east-2"
    env = {k: v for k, v in _env().items() if not k.startswith("AWS_")}
    env.update(assigned, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    res = subprocess.run([sys.executable, "-m", "awscli", "s3", "mb", "s3://up-banner-bucket"], env=env,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert oct(os.stat(os.path.join(data, "credentials.json")).st_mode & 0o777) == "0o600"
    # each region is its own OS process with its own data directory
    assert os.path.isdir(os.path.join(data, "regions", "us-east-2")) and \
        os.path.isdir(os.path.join(data, "regions", "us-west-2"))
    east = _client(pe, "us-east-2", creds)
    west = _client(pw, "us-west-2", creds)
    east.create_bucket(Bucket="up-east-bucket", CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    east.put_object(Bucket="up-east-bucket", Key="k", Body=b"survives restart")
    with pytest.raises(west.exceptions.ClientError) as e:  # one namespace across regions
        west.create_bucket(Bucket="up-east-bucket", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    assert e.value.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
    assert _stop(proc) == 0

    proc = _start_up(args)
    _wait_ready(proc)
    assert _credentials(data) == creds  # generated once, reused
    east = _client(pe, "us-east-2", creds)
    assert east.get_object(Bucket="up-east-bucket", Key="k")["Body"].read() == b"survives restart"
    assert _stop(proc) == 0


def test_up_reads_toml_config(tmp_path: Any) -> None:
    pe, pw, pc = free_port(), free_port(), free_port()
    cfg = tmp_path / "twinstore.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "d"}"\naccount_id = "111122223333"\n[regions]\n'
                   f'us-east-2 = "127.0.0.1:{pe}"\nus-west-2 = "127.0.0.1:{pw}"\neu-central-1 = "127.0.0.1:{pc}"\n')
    proc = _start_up(["--config", str(cfg)])
    banner = _wait_ready(proc)
    assert "111122223333" in banner and "eu-central-1" in banner
    creds = _credentials(str(tmp_path / "d"))
    c = _client(pc, "eu-central-1", creds)
    c.create_bucket(Bucket="cfg-bucket-1", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    assert c.get_bucket_location(Bucket="cfg-bucket-1")["LocationConstraint"] == "eu-central-1"
    assert _stop(proc) == 0


def test_up_refuses_bad_region_flag() -> None:
    res = subprocess.run([sys.executable, "-m", "twinstore.cli.main", "up", "--region", "nonsense"], env=_env(),
                         capture_output=True, text=True, timeout=30)
    assert res.returncode != 0
    assert "NAME=HOST:PORT" in res.stderr
