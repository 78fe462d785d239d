"""The errors CloudFormation answers (query protocol: HTTP 400 unless noted)."""

from __future__ import annotations

from ..protocol.errors import AWSError


def validation(message: str) -> AWSError:
    return AWSError("ValidationError", message, status=400)


def template_format(message: str) -> AWSError:
    return validation(f"Template format error: {message}")


def template_error(message: str) -> AWSError:
    return validation(f"Template error: {message}")
