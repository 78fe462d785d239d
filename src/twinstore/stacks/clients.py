"""botocore clients for the deployment's own endpoints, signed with its root credentials."""

from __future__ import annotations

import threading
from typing import Any, Callable

import botocore.session
from botocore.config import Config

# the user agent CloudTrail shows for calls AWS CloudFormation makes on a stack's behalf
USER_AGENT = "cloudformation.amazonaws.com"
_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=120,
                 s3={"addressing_style": "path"}, max_pool_connections=20, user_agent=USER_AGENT)


class ClientFactory:
    """One client per (service, region), created on first use; clients are shared across worker threads."""

    def __init__(self, endpoint_for: Callable[[str], str], access_key_id: str, secret_access_key: str) -> None:
        self._endpoint_for = endpoint_for
        self._key = access_key_id
        self._secret = secret_access_key
        self._session = botocore.session.get_session()
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region: str) -> Any:
        with self._lock:
            c = self._clients.get((service, region))
            if c is None:
                c = self._session.create_client(service, region_name=region, endpoint_url=self._endpoint_for(region),
                                                aws_access_key_id=self._key, aws_secret_access_key=self._secret,
                                                config=_CONFIG)
                self._clients[(service, region)] = c
            return c
