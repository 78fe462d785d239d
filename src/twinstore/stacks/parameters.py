"""Template parameters: declarations and the validation of the values a stack is created with."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import template_format, validation

TYPES = ("String", "Number", "CommaDelimitedList", "List<Number>")
MAX_VALUE_BYTES = 4096
NO_ECHO_MASK = "****"


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


@dataclass(slots=True)
class ParameterDef:
    name: str
    type: str
    default: str | None = None
    description: str = ""
    allowed_values: list[str] | None = None
    allowed_pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_value: float | None = None
    max_value: float | None = None
    constraint_description: str | None = None
    no_echo: bool = False

    @classmethod
    def parse(cls, name: str, decl: Any) -> "ParameterDef":
        if not isinstance(decl, dict):
            raise template_format(f"Parameter {name} must be an object")
        ptype = decl.get("Type")
        if ptype is None:
            raise template_format(f"Parameter '{name}' is missing the Type attribute")
        if ptype not in TYPES:
            raise template_format(f"Unrecognized parameter type: {ptype}")
        allowed = decl.get("AllowedValues")
        if allowed is not None and not isinstance(allowed, list):
            raise template_format(f"Every AllowedValues object of parameter {name} must be a list")
        pattern = decl.get("AllowedPattern")
        if pattern is not None:
            try:
                re.compile(str(pattern))
            except re.error:
                raise template_format(f"Parameter '{name}' has an invalid AllowedPattern") from None
        try:
            p = cls(
                name=name, type=ptype,
                default=None if decl.get("Default") is None else _default(decl["Default"]),
                description=str(decl.get("Description", "")),
                allowed_values=[_scalar(v) for v in allowed] if allowed is not None else None,
                allowed_pattern=str(pattern) if pattern is not None else None,
                min_length=_opt_int(decl.get("MinLength")), max_length=_opt_int(decl.get("MaxLength")),
                min_value=_opt_float(decl.get("MinValue")), max_value=_opt_float(decl.get("MaxValue")),
                constraint_description=(str(decl["ConstraintDescription"])
                                        if decl.get("ConstraintDescription") is not None else None),
                no_echo=_scalar(decl.get("NoEcho", False)).lower() == "true",
            )
        except ValueError:
            raise template_format(f"Invalid constraint value in parameter {name}") from None
        return p

    def check(self, raw: str) -> str | list[str]:
        """The value `Ref` yields, after checking the constraints; raises ValidationError."""
        if len(raw.encode()) > MAX_VALUE_BYTES:
            raise validation(f"Parameter '{self.name}' value exceeds {MAX_VALUE_BYTES} bytes")
        if self.type == "String":
            self._check_item(raw)
            return raw
        if self.type == "Number":
            self._check_item(raw, numeric=True)
            return raw
        items = [s.strip() for s in raw.split(",")] if raw != "" else []
        for item in items:
            self._check_item(item, numeric=self.type == "List<Number>")
        return items

    def _check_item(self, value: str, numeric: bool = False) -> None:
        if numeric and _number(value) is None:
            raise validation(f"Parameter '{self.name}' must be a number.")
        if self.allowed_values is not None and value not in self.allowed_values:
            self._fail(f"Parameter '{self.name}' must be one of AllowedValues")
        if self.allowed_pattern is not None and re.fullmatch(self.allowed_pattern, value) is None:
            self._fail(f"Parameter '{self.name}' must match pattern {self.allowed_pattern}")
        if self.min_length is not None and len(value) < self.min_length:
            self._fail(f"Parameter '{self.name}' must contain at least {self.min_length} characters")
        if self.max_length is not None and len(value) > self.max_length:
            self._fail(f"Parameter '{self.name}' must contain at most {self.max_length} characters")
        num = _number(value)
        if self.min_value is not None and (num is None or num < self.min_value):
            self._fail(f"Parameter '{self.name}' must be a number not less than {_fmt(self.min_value)}")
        if self.max_value is not None and (num is None or num > self.max_value):
            self._fail(f"Parameter '{self.name}' must be a number not greater than {_fmt(self.max_value)}")

    def _fail(self, generic: str) -> None:
        if self.constraint_description is not None:
            raise validation(f"Parameter '{self.name}' failed to satisfy constraint: "
                             f"{self.constraint_description}")
        raise validation(generic)


def _default(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_scalar(v) for v in value)
    return _scalar(value)


def _opt_int(v: Any) -> int | None:
    return None if v is None else int(str(v))


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(str(v))


def _fmt(v: float) -> str:
    return str(int(v)) if v == int(v) else str(v)


def resolve_parameters(defs: dict[str, ParameterDef], given: dict[str, str]) -> dict[str, str | list[str]]:
    """Checks the given values against the declarations; defaults fill the rest."""
    unknown = [k for k in given if k not in defs]
    if unknown:
        raise validation(f"Parameters: [{', '.join(unknown)}] do not exist in the template")
    missing = [name for name, d in defs.items() if name not in given and d.default is None]
    if missing:
        raise validation(f"Parameters: [{', '.join(missing)}] must have values")
    out: dict[str, str | list[str]] = {}
    for name, d in defs.items():
        out[name] = d.check(given[name] if name in given else str(d.default))
    return out
