"""IAM/STS error constructors with AWS's codes and HTTP statuses."""

from __future__ import annotations

from ..protocol.errors import AWSError


def no_such_entity(message: str) -> AWSError:
    return AWSError("NoSuchEntity", message, status=404)


def already_exists(message: str) -> AWSError:
    return AWSError("EntityAlreadyExists", message, status=409)


def delete_conflict(message: str) -> AWSError:
    return AWSError("DeleteConflict", message, status=409)


def limit_exceeded(message: str) -> AWSError:
    return AWSError("LimitExceeded", message, status=409)


def malformed_policy(message: str) -> AWSError:
    return AWSError("MalformedPolicyDocument", message, status=400)


def validation(message: str) -> AWSError:
    return AWSError("ValidationError", message, status=400)


def invalid_input(message: str) -> AWSError:
    return AWSError("InvalidInput", message, status=400)


def access_denied(principal_arn: str, action: str, resource: str, why: str = "") -> AWSError:
    reason = why or "because no identity-based policy allows the " + action + " action"
    return AWSError("AccessDenied", f"User: {principal_arn} is not authorized to perform: {action} on resource: "
                                    f"{resource} {reason}", status=403)
