"""Shared fixtures: a two-region deployment of real processes for the session, and per-test buckets."""

from __future__ import annotations

import shutil
from typing import Any, Iterator

import pytest

from harness import Deployment, create_bucket


def _running_deployment() -> Iterator[Deployment]:
    dep = Deployment().start()
    yield dep
    dep.stop()
    shutil.rmtree(dep.data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def deployment() -> Iterator[Deployment]:
    yield from _running_deployment()


@pytest.fixture()
def own_deployment() -> Iterator[Deployment]:
    """A two-region deployment of the test's own, for tests that kill, stop or restart regions."""
    yield from _running_deployment()


@pytest.fixture(scope="session")
def east(deployment: Deployment) -> Any:
    return deployment["us-east-2"]


@pytest.fixture(scope="session")
def west(deployment: Deployment) -> Any:
    return deployment["us-west-2"]


@pytest.fixture(scope="session")
def s3(east: Any) -> Any:
    return east.client()


@pytest.fixture()
def bucket(s3: Any) -> str:
    return create_bucket(s3, "us-east-2")


@pytest.fixture()
def vbucket(s3: Any) -> str:
    return create_bucket(s3, "us-east-2", versioned=True)
