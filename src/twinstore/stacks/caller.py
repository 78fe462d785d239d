"""Who a stack operation acts as: the principal that started it (CreateStack, DeleteStack), recorded with the
stack without secrets, and the short-lived credentials the providers sign with, minted for that principal
(AWS CloudFormation without a service role acts with its caller's permissions: forward access sessions)."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from ..auth.principal import Credential, Principal
from ..protocol.errors import AWSError
from ..protocol.timefmt import now_us
from .providers.base import ProviderError

# principal -> credentials with exactly its permissions (for the account root: the root's); raises AWSError when
# it cannot act any more (a deleted user)
Forwarder = Callable[[Principal], Awaitable[Credential]]
SERVICE = "cloudformation.amazonaws.com"
REFRESH_US = 15 * 60 * 1_000_000  # mint anew when less than this is left (a provider call is far shorter)
_EXTRA = ("user_name", "role_arn", "role_name", "role_id", "session_name", "policy")


def record(p: Principal) -> dict[str, Any]:
    """What is stored of the caller: identity only (never its access key, session token or secret)."""
    return {"account_id": p.account_id, "arn": p.arn, "type": p.type, "principal_id": p.principal_id,
            "extra": {k: p.extra[k] for k in _EXTRA if p.extra and k in p.extra}}


def principal(rec: dict[str, Any]) -> Principal:
    return Principal(str(rec.get("account_id", "")), str(rec.get("arn", "")), str(rec.get("type", "")),
                     principal_id=str(rec.get("principal_id", "")), extra=dict(rec.get("extra") or {}))


class CallerSessions:
    """The current credentials of each stack's caller, minted on first use and again before they expire."""

    def __init__(self, forward: Forwarder) -> None:
        self._forward = forward
        self._by_stack: dict[str, tuple[str, Credential]] = {}

    async def credential(self, stack_id: str, caller: dict[str, Any]) -> Credential:
        """Raises ProviderError (the reason the resource shows) when no credentials can be had."""
        if not caller.get("arn"):
            raise ProviderError("Resource handler returned message: \"The identity that started this stack "
                                "operation was not recorded; start it again\" (HandlerErrorCode: AccessDenied)",
                                "AccessDenied")
        key = f"{caller['arn']}|{caller.get('principal_id', '')}"
        got = self._by_stack.get(stack_id)
        if got is not None and got[0] == key and (got[1].expires_us is None
                                                  or got[1].expires_us - now_us() > REFRESH_US):
            return got[1]
        try:
            cred = await self._forward(principal(caller))
        except AWSError as e:
            raise ProviderError(f"Resource handler returned message: \"{e.message} (Service: Sts, Status Code: "
                                f"{e.status})\" (HandlerErrorCode: AccessDenied)", e.code) from None
        self._by_stack[stack_id] = (key, cred)
        return cred

    def forget(self, stack_id: str) -> None:
        self._by_stack.pop(stack_id, None)
