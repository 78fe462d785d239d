"""botocore clients for the deployment's own endpoints, signed with given credentials (a stack operation's
caller's, see caller.py; the root's by default)."""

from __future__ import annotations

import threading
from typing import Any, Callable

import botocore.session
from botocore.config import Config

from ..auth.principal import Credential

# the user agent CloudTrail shows for calls AWS CloudFormation makes on a stack's behalf
USER_AGENT = "cloudformation.amazonaws.com"
_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=120,
                 s3={"addressing_style": "path"}, max_pool_connections=20, user_agent=USER_AGENT)
_MAX_CLIENTS = 64


class ClientFactory:
    """One client per (service, region, credentials), created on first use; clients are shared across worker
    threads. Clients of credentials no longer in use are dropped when the cache fills."""

    def __init__(self, endpoint_for: Callable[[str], str], access_key_id: str, secret_access_key: str) -> None:
        self._endpoint_for = endpoint_for
        self._default = (access_key_id, secret_access_key, "")
        self._session = botocore.session.get_session()
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region: str, cred: Credential | None = None) -> Any:
        key_id, secret, token = self._default if cred is None else (
            cred.access_key_id, cred.secret_access_key, cred.session_token)
        with self._lock:
            c = self._clients.get((service, region, key_id))
            if c is None:
                if len(self._clients) >= _MAX_CLIENTS:
                    self._clients.clear()
                c = self._session.create_client(service, region_name=region, endpoint_url=self._endpoint_for(region),
                                                aws_access_key_id=key_id, aws_secret_access_key=secret,
                                                aws_session_token=token or None, config=_CONFIG)
                self._clients[(service, region, key_id)] = c
            return c
