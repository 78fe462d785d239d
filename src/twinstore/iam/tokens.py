"""Self-authenticating STS session tokens.

A session token carries the session (access key id, role, session name, expiry, optional session policy) and
an HMAC under a deployment secret kept in the data directory (mode 0600), so every region process verifies
any session without a shared session table. The session's secret access key is derived from the same secret
and the access key id, so it is never stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass

SECRET_FILE = "sts-secret.key"
_PREFIX = "TWS1"


def load_secret(data_dir: str) -> bytes:
    """The deployment's token secret, created once (0600)."""
    path = os.path.join(data_dir, SECRET_FILE)
    try:
        with open(path, "rb") as f:
            data = f.read()
        if len(data) >= 32:
            return data
    except FileNotFoundError:
        pass
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(32))
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)  # the first process to create it wins; the others read the winner's
    except FileExistsError:
        pass
    os.unlink(tmp)
    with open(path, "rb") as f:
        return f.read()


@dataclass(frozen=True, slots=True)
class Session:
    access_key_id: str
    role_arn: str
    role_id: str
    session_name: str
    expires_us: int
    source_identity: str = ""  # "" for sessions of IAM principals; the service name for service sessions
    policy: str = ""  # session policy document passed to AssumeRole, if any
    source_arn: str = ""  # service calls: the resource on whose behalf the service acts (aws:SourceArn)
    source_account: str = ""  # ... and its account (aws:SourceAccount)
    # forward sessions (a service acting with its caller's permissions, e.g. CloudFormation): the calling IAM
    # user (for a role-session caller, the role fields above), and the service acting for it
    user_arn: str = ""
    user_id: str = ""
    via: str = ""


class TokenError(ValueError):
    pass


class TokenCodec:
    def __init__(self, secret: bytes) -> None:
        self._mac_key = hmac.new(secret, b"twinstore-sts-token", hashlib.sha256).digest()
        self._sk_key = hmac.new(secret, b"twinstore-sts-secret", hashlib.sha256).digest()

    def secret_for(self, access_key_id: str) -> str:
        raw = hmac.new(self._sk_key, access_key_id.encode(), hashlib.sha256).digest()
        return base64.b64encode(raw).decode()[:40]

    def encode(self, s: Session) -> str:
        body = json.dumps([s.access_key_id, s.role_arn, s.role_id, s.session_name, s.expires_us,
                           s.source_identity, s.policy, s.source_arn, s.source_account, s.user_arn, s.user_id, s.via],
                          separators=(",", ":")).encode()
        payload = base64.urlsafe_b64encode(body).decode().rstrip("=")
        mac = base64.urlsafe_b64encode(hmac.new(self._mac_key, payload.encode(), hashlib.sha256).digest())
        return f"{_PREFIX}.{payload}.{mac.decode().rstrip('=')}"

    def decode(self, token: str) -> Session:
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != _PREFIX:
            raise TokenError("malformed")
        payload, mac = parts[1], parts[2]
        want = base64.urlsafe_b64encode(hmac.new(self._mac_key, payload.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(want.decode().rstrip("="), mac):
            raise TokenError("bad signature")
        try:
            fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            return Session(*fields)
        except (ValueError, TypeError):
            raise TokenError("malformed") from None
