"""Who a request comes from, once its signature is verified."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True, frozen=True)
class Principal:
    account_id: str
    arn: str
    type: str  # "Root" | "IAMUser" | "AssumedRole" | "AWSService" | "Anonymous"
    access_key_id: str = ""
    principal_id: str = ""
    session_token: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_root(self) -> bool:
        return self.type == "Root"


@dataclass(slots=True, frozen=True)
class Credential:
    access_key_id: str
    secret_access_key: str
    principal: Principal
    session_token: str = ""
    expires_us: int | None = None
