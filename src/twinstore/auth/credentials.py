"""The deployment's root credentials: from the environment, or generated once and kept in the data dir."""

from __future__ import annotations

import json
import os
import secrets
import string
from dataclasses import dataclass
from typing import Callable

from ..aio.files import write_private_file
from .principal import Credential, Principal

ENV_ACCESS_KEY = "TWINSTORE_ROOT_ACCESS_KEY_ID"
ENV_SECRET_KEY = "TWINSTORE_ROOT_SECRET_ACCESS_KEY"
ENV_ACCOUNT = "TWINSTORE_ACCOUNT_ID"
DEFAULT_ACCOUNT_ID = "123456789012"
FILE_NAME = "credentials.json"


@dataclass(frozen=True, slots=True)
class RootAccount:
    account_id: str
    access_key_id: str
    secret_access_key: str

    def credential(self) -> Credential:
        principal = Principal(account_id=self.account_id, arn=f"arn:aws:iam::{self.account_id}:root", type="Root",
                              access_key_id=self.access_key_id, principal_id=self.account_id)
        return Credential(self.access_key_id, self.secret_access_key, principal)


def _new_access_key() -> str:
    return "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))


def load_root_account(data_dir: str, account_id: str | None = None) -> RootAccount:
    """Env vars win; otherwise the file in `data_dir` (created with mode 0600 on first use)."""
    os.makedirs(data_dir, exist_ok=True)
    path = os.path.join(data_dir, FILE_NAME)
    stored: dict[str, str] = {}
    if os.path.exists(path):
        with open(path) as f:
            stored = json.load(f)
    account = account_id or os.environ.get(ENV_ACCOUNT) or stored.get("account_id") or DEFAULT_ACCOUNT_ID
    if not (len(account) == 12 and account.isdigit()):
        raise ValueError(f"account id must be 12 digits, got {account!r}")
    akid = os.environ.get(ENV_ACCESS_KEY)
    secret = os.environ.get(ENV_SECRET_KEY)
    if akid and secret:
        return RootAccount(account, akid, secret)
    if stored.get("access_key_id") and stored.get("secret_access_key"):
        return RootAccount(account, stored["access_key_id"], stored["secret_access_key"])
    root = RootAccount(account, _new_access_key(), secrets.token_urlsafe(30)[:40])
    write_private_file(path, json.dumps({"account_id": root.account_id, "access_key_id": root.access_key_id,
                                         "secret_access_key": root.secret_access_key}).encode())
    return root


class CredentialDirectory:
    """Access key id -> credential: the root account's, else whatever `others` (IAM users' access keys, STS
    sessions verified with their session token) knows."""

    def __init__(self, root: RootAccount, others: Callable[[str, str], Credential | None] | None = None) -> None:
        self.root = root
        self._by_key = {root.access_key_id: root.credential()}
        self.others = others

    def lookup(self, access_key_id: str, session_token: str = "") -> Credential | None:
        cred = self._by_key.get(access_key_id)
        if cred is None and self.others is not None:
            return self.others(access_key_id, session_token)
        return cred
