"""Input constraints from the botocore model (length, range, pattern), reported as AWS's ValidationError."""

from __future__ import annotations

import functools
import re
from typing import Any

from botocore.model import Shape

from ..protocol.model import service_model
from .errors import validation


@functools.lru_cache(maxsize=None)
def _pattern(p: str) -> re.Pattern[str]:
    return re.compile(p, re.DOTALL)


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def check_input(service: str, operation: str, params: dict[str, Any]) -> None:
    shape = service_model(service).operation_model(operation).input_shape
    if shape is None:
        return
    problems: list[str] = []
    for name in shape.required_members:
        if params.get(name) is None:
            problems.append(f"Value null at '{_camel(name)}' failed to satisfy constraint: Member must not be null")
    for name, member in shape.members.items():
        if name in params:
            _check(member, params[name], _camel(name), problems)
    if problems:
        n = len(problems)
        raise validation(f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(problems))


def _check(shape: Shape, value: Any, where: str, problems: list[str]) -> None:
    meta = shape.metadata
    if shape.type_name == "string" and isinstance(value, str):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"Value '{value}' at '{where}' failed to satisfy constraint: Member must have length "
                            f"less than or equal to {meta['max']}")
        elif "min" in meta and len(value) < meta["min"]:
            problems.append(f"Value '{value}' at '{where}' failed to satisfy constraint: Member must have length "
                            f"greater than or equal to {meta['min']}")
        elif "pattern" in meta and not _pattern(meta["pattern"]).fullmatch(value):
            problems.append(f"Value '{value}' at '{where}' failed to satisfy constraint: Member must satisfy "
                            f"regular expression pattern: {meta['pattern']}")
    elif shape.type_name in ("integer", "long") and isinstance(value, int):
        if "max" in meta and value > meta["max"]:
            problems.append(f"Value '{value}' at '{where}' failed to satisfy constraint: Member must have value "
                            f"less than or equal to {meta['max']}")
        elif "min" in meta and value < meta["min"]:
            problems.append(f"Value '{value}' at '{where}' failed to satisfy constraint: Member must have value "
                            f"greater than or equal to {meta['min']}")
