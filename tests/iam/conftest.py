"""IAM test helpers: unique names, users with access keys and policies, clients signing as them."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

ACCOUNT_ID = "123456789012"


def uname(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def status(exc: pytest.ExceptionInfo[ClientError]) -> int:
    return int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"])


@dataclass
class User:
    name: str
    arn: str
    access_key: str
    secret_key: str

    def client(self, region: Any, service: str = "s3", **kw: Any) -> Any:
        return region.client(service, access_key=self.access_key, secret_key=self.secret_key, **kw)


def make_user(iam: Any, *statements: dict[str, Any], name: str | None = None) -> User:
    """A user with an access key and (if statements are given) one inline policy."""
    name = name or uname("u")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=doc(*statements))
    return User(name, arn, key["AccessKeyId"], key["SecretAccessKey"])


def session_client(region: Any, creds: dict[str, str], service: str = "s3") -> Any:
    return region.client(service, access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"])


@pytest.fixture(scope="session")
def iam(east: Any) -> Any:
    return east.client("iam")
