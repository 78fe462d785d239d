"""Starts real twinstore region processes on free loopback ports for tests (no mocks)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

ACCESS_KEY = "AKIATESTROOT00000000"
SECRET_KEY = "testsecrettestsecrettestsecrettestsecret"
ACCOUNT_ID = "123456789012"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SRC_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    # region processes run the code of this checkout, whatever `pip install -e` last pointed at
    env["PYTHONPATH"] = SRC_DIR + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update({"TWINSTORE_ROOT_ACCESS_KEY_ID": ACCESS_KEY, "TWINSTORE_ROOT_SECRET_ACCESS_KEY": SECRET_KEY,
                "TWINSTORE_ACCOUNT_ID": ACCOUNT_ID})
    return env


@dataclass
class RegionProcess:
    name: str
    data_dir: str
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: str = ""
    args: list[str] = field(default_factory=list)  # extra `twinstore server` options

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> None:
        self.log_path = os.path.join(self.data_dir, f"{self.name}.log")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "twinstore.cli.main", "server", "--region", self.name,
             "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data_dir, *self.args],
            env=base_env(), stdout=log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_healthy()

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.endpoint + "/_twinstore/health", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def wait_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"region {self.name} exited: {self.read_log()}")
            if self.healthy():
                return
            time.sleep(0.05)
        raise RuntimeError(f"region {self.name} not healthy: {self.read_log()}")

    def read_log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self, service: str = "s3", **kwargs: Any) -> Any:
        cfg = kwargs.pop("config", None) or Config(retries={"max_attempts": 2, "mode": "standard"})
        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.name,
                            aws_access_key_id=kwargs.pop("access_key", ACCESS_KEY),
                            aws_secret_access_key=kwargs.pop("secret_key", SECRET_KEY), config=cfg, **kwargs)

    def aws(self, *args: str, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        """Runs the real AWS CLI against this region."""
        env = base_env()
        env.update({"AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": self.name, "AWS_DEFAULT_REGION": self.name,
                    "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                    "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                    "AWS_PAGER": ""})
        res = subprocess.run([sys.executable, "-m", "awscli", *args], env=env, capture_output=True, text=True,
                             input=input.decode() if input else None, timeout=300)
        if check and res.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({res.returncode}): {res.stderr}")
        return res


class Deployment:
    """Several regions sharing one deployment directory (global namespace, credentials)."""

    def __init__(self, regions: tuple[str, ...] = ("us-east-2", "us-west-2"), data_dir: str | None = None):
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="twinstore-test-")
        self.regions = {name: RegionProcess(name, self.data_dir) for name in regions}

    def start(self) -> "Deployment":
        for r in self.regions.values():
            r.start(wait=False)
        for r in self.regions.values():
            r.wait_healthy()
        return self

    def stop(self) -> None:
        for r in self.regions.values():
            r.stop()

    def __getitem__(self, name: str) -> RegionProcess:
        return self.regions[name]


def unique_bucket(prefix: str = "tb") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


def create_bucket(client: Any, region: str, name: str | None = None, versioned: bool = False) -> str:
    name = name or unique_bucket()
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    if versioned:
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


# ---- raw signed HTTP (for wire-level tests that must control every byte) ---------------------------------


class _FixedPayloadAuth:
    """botocore's S3SigV4Auth, optionally with a chosen x-amz-content-sha256 (e.g. STREAMING-...)."""

    @staticmethod
    def make(access_key: str, secret_key: str, region: str, payload_hash: str | None) -> Any:
        from botocore.auth import S3SigV4Auth
        from botocore.credentials import Credentials

        class Auth(S3SigV4Auth):
            def payload(self, request: Any) -> str:
                return payload_hash if payload_hash is not None else str(super().payload(request))

        return Auth(Credentials(access_key, secret_key), "s3", region)


def sign_request(method: str, url: str, region: str, body: bytes = b"", headers: dict[str, str] | None = None,
                 payload_hash: str | None = None, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY,
                 skew_seconds: int = 0) -> dict[str, str]:
    """Headers of a SigV4-signed request, computed by botocore; the caller sends them (and `body`) raw."""
    import datetime
    from unittest import mock

    from botocore.awsrequest import AWSRequest

    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    auth = _FixedPayloadAuth.make(access_key, secret_key, region, payload_hash)
    when = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(
        seconds=skew_seconds)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        auth.add_auth(req)
    return {k: v for k, v in req.headers.items()}


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]  # lowercase names
    body: bytes
    header_list: list[tuple[str, str]] = field(default_factory=list)  # as received, repeats kept

    def error_code(self) -> str | None:
        import re
        m = re.search(rb"<Code>([^<]*)</Code>", self.body)
        return m.group(1).decode() if m else None


def raw_request(endpoint: str, method: str, path: str, headers: dict[str, str] | None = None,
                body: bytes = b"", timeout: float = 30) -> RawResponse:
    """One HTTP request over http.client, sent exactly as given (no header added except Host)."""
    import http.client
    from urllib.parse import urlsplit

    u = urlsplit(endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        hdrs = dict(headers or {})
        if not any(k.lower() == "host" for k in hdrs):
            hdrs["Host"] = u.netloc
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders(body if body else None)
        resp = conn.getresponse()
        data = resp.read()
        return RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data, resp.getheaders())
    finally:
        conn.close()


def signed_raw(endpoint: str, region: str, method: str, path: str, body: bytes = b"",
               headers: dict[str, str] | None = None, **sign_kwargs: Any) -> RawResponse:
    """Signs with botocore (for `region`) and sends over http.client."""
    hdrs = sign_request(method, endpoint + path, region, body, headers, **sign_kwargs)
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k in hdrs):
        hdrs["Content-Length"] = str(len(body))
    return raw_request(endpoint, method, path, hdrs, body)


# the lab's Insights query exactly as the guide prints it (trailing spaces kept)
LAB_QUERY = """fields @timestamp, requestParameters.key AS key, 
| requestParameters.bucketName AS bucket, 
| userIdentity.invokedBy AS invokedBy,
| userIdentity.arn AS arn, 
| userIdentity.sessionContext.sessionIssuer.userName AS UserName
| filter eventName ='PutObject'
| sort @timestamp desc
| limit 20"""  # noqa: W291
