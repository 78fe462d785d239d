"""What a resource provider is and what it gets: the stack's identity and botocore clients for the
deployment's own service endpoints, signed with the deployment's root credentials.

Providers act on the deployment only through its public AWS APIs (as AWS CloudFormation does) and run on
worker threads, never on the event loop.
"""

from __future__ import annotations

import json
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from botocore.exceptions import BotoCoreError, ClientError

_RANDOM_ALPHABET = string.ascii_uppercase + string.digits
# handler error codes CloudFormation reports, by the service error codes that map to them
_HANDLER_CODES = {
    "AlreadyExists": {"BucketAlreadyExists", "BucketAlreadyOwnedByYou", "EntityAlreadyExists",
                      "ResourceAlreadyExistsException", "TrailAlreadyExistsException", "AlreadyExistsException"},
    "NotFound": {"NoSuchBucket", "NoSuchEntity", "ResourceNotFoundException", "TrailNotFoundException",
                 "NotFoundException"},
    "AccessDenied": {"AccessDenied", "AccessDeniedException"},
    "InvalidRequest": {"ValidationError", "ValidationException", "InvalidParameterValueException",
                       "MalformedPolicyDocument", "MalformedPolicy", "InvalidArgument", "InvalidRequest",
                       "MalformedXML", "InvalidBucketAclWithObjectOwnership", "LimitExceeded",
                       "InvalidBucketName"},
    "ResourceConflict": {"DeleteConflict", "BucketNotEmpty", "ConflictException", "OperationAbortedException"},
}
_SERVICE_LABELS = {"s3": "S3", "iam": "Iam", "logs": "CloudWatchLogs", "cloudtrail": "CloudTrail", "kms": "Kms"}


class ProviderError(Exception):
    """A resource operation failed; `reason` is what the stack event shows."""

    def __init__(self, reason: str, code: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass
class ProviderContext:
    stack_name: str
    stack_id: str
    region: str
    account_id: str
    logical_id: str
    client: Callable[[str], Any]  # botocore service name -> client for this stack's region
    initiated: Callable[[str], None]  # reports the physical id once the resource exists
    planned: Callable[[str], None] = lambda _: None  # records the name a creation is about to use
    stack_tags: list[dict[str, str]] = field(default_factory=list)

    def generated_name(self, max_len: int, lower: bool = False) -> str:
        """`<StackName>-<LogicalId>-<RANDOM>`, truncated to `max_len`, as CloudFormation names resources."""
        rand = "".join(secrets.choice(_RANDOM_ALPHABET) for _ in range(12))
        base = f"{self.stack_name}-{self.logical_id}-"[: max_len - len(rand)]
        name = base + rand
        return name.lower() if lower else name


class Provider(Protocol):
    type: str

    def create(self, ctx: ProviderContext, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Creates the resource; returns (physical id, attributes). Calls `ctx.initiated` as soon as the
        resource exists, so a failure in a later configuration step still leaves something rollback deletes."""
        ...

    def delete(self, ctx: ProviderContext, physical_id: str, props: dict[str, Any], attrs: dict[str, Any]) -> None:
        """Deletes the resource; a resource that is already gone is not an error."""
        ...

    # Optional: `created_since(ctx, planned_id, since_us) -> bool`, whether a resource named `planned_id` exists
    # and was created at or after `since_us` (so a creation cut short by a restart made it, and rollback must
    # delete it; a resource that existed before is never touched).


def call(ctx: ProviderContext, service: str, operation: str, **kwargs: Any) -> dict[str, Any]:
    """One API call of `ctx.client(service)`; errors become ProviderError with CloudFormation's wording."""
    client = ctx.client(service)
    try:
        return dict(getattr(client, operation)(**{k: v for k, v in kwargs.items() if v is not None}))
    except ClientError as e:
        raise client_error(service, e) from None
    except BotoCoreError as e:
        raise ProviderError(f"Resource handler returned message: \"{e}\" (HandlerErrorCode: "
                            f"ServiceInternalError)", "ServiceInternalError") from None


def call_after_create(ctx: ProviderContext, service: str, operation: str, attempts: int = 10,
                      **kwargs: Any) -> dict[str, Any]:
    """A call about an entity just created: IAM is eventually consistent (on AWS too), so an entity not found
    yet is retried for a few seconds, as CloudFormation's handlers do."""
    for attempt in range(attempts):
        try:
            return call(ctx, service, operation, **kwargs)
        except ProviderError as e:
            if e.code != "NoSuchEntity" or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def client_error(service: str, e: ClientError) -> ProviderError:
    err = e.response.get("Error", {})
    code = str(err.get("Code", "Unknown"))
    message = str(err.get("Message", "")) or code
    meta = e.response.get("ResponseMetadata", {})
    status = meta.get("HTTPStatusCode", 0)
    request_id = meta.get("RequestId", "")
    handler = next((h for h, codes in _HANDLER_CODES.items() if code in codes), "GeneralServiceException")
    label = _SERVICE_LABELS.get(service, service)
    return ProviderError(f"Resource handler returned message: \"{message} (Service: {label}, Status Code: "
                         f"{status}, Request ID: {request_id})\" (HandlerErrorCode: {handler})", code)


def ignore_not_found(fn: Callable[[], Any]) -> None:
    """Runs a delete step; an already-deleted resource is success."""
    try:
        fn()
    except ProviderError as e:
        if e.code not in _HANDLER_CODES["NotFound"] and e.code not in ("NoSuchBucketPolicy",):
            raise


def check_properties(rtype: str, props: dict[str, Any], supported: set[str], required: set[str] = frozenset()
                     ) -> None:  # type: ignore[assignment]
    """Rejects properties the provider does not implement (rather than silently ignoring them)."""
    unknown = sorted(set(props) - supported)
    if unknown:
        raise ProviderError(f"Properties validation failed for resource of type {rtype}: property "
                            f"{unknown[0]} is not supported by twinstore", "InvalidRequest")
    missing = sorted(required - set(props))
    if missing:
        raise ProviderError(f"Properties validation failed for resource of type {rtype} with message: "
                            f"#: required key [{missing[0]}] not found", "InvalidRequest")


def policy_json(doc: Any) -> str:
    """A policy document property (object or JSON text) as JSON text."""
    return doc if isinstance(doc, str) else json.dumps(doc)


def as_bool(v: Any) -> bool:
    return v if isinstance(v, bool) else str(v).lower() == "true"


def as_int(v: Any) -> int:
    return int(str(v))


def tag_list(ctx: ProviderContext, props: dict[str, Any]) -> list[dict[str, str]] | None:
    """The resource's Tags after the stack's tags (CloudFormation propagates stack tags to resources; the
    resource's own value wins for a key both set)."""
    merged = {t["Key"]: t["Value"] for t in ctx.stack_tags}
    merged.update({str(t["Key"]): str(t["Value"]) for t in props.get("Tags") or []})
    return [{"Key": k, "Value": v} for k, v in merged.items()] or None
