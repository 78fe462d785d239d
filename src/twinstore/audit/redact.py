"""Turning an operation's input/output members into CloudTrail's requestParameters/responseElements, with
every member the botocore model marks sensitive (secret keys, SSE-C keys, passwords...) hidden."""

from __future__ import annotations

import base64
import datetime
import functools
from typing import Any

from botocore.model import OperationModel, Shape

from ..protocol.model import operation as op_model

HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"
# never in a record, whatever a model says (credentials travel in these)
_SECRET_NAMES = frozenset({"secretaccesskey", "sessiontoken", "password", "newpassword", "oldpassword",
                           "privatekey", "ssecustomerkey", "copysourcessecustomerkey", "plaintext",
                           "authorization", "x-amz-security-token"})


@functools.lru_cache(maxsize=512)
def _model(service: str, operation: str) -> OperationModel | None:
    try:
        return op_model(service, operation)
    except Exception:  # noqa: BLE001 - unknown operation: nothing to describe
        return None


def input_shape(service: str, operation: str) -> Shape | None:
    m = _model(service, operation)
    return m.input_shape if m else None


def output_shape(service: str, operation: str) -> Shape | None:
    m = _model(service, operation)
    return m.output_shape if m else None


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _time(v: Any) -> str:
    if isinstance(v, datetime.datetime):
        dt = v.astimezone(datetime.timezone.utc)
    else:
        dt = datetime.datetime.fromtimestamp(int(v) / 1e6, datetime.timezone.utc)
    return dt.strftime("%b %d, %Y, %I:%M:%S %p").replace(" 0", " ")


def _sensitive(name: str, shape: Shape | None) -> bool:
    if name.lower() in _SECRET_NAMES:
        return True
    return bool(shape is not None and shape.metadata.get("sensitive"))


def render(value: Any, shape: Shape | None, camel: bool = True) -> Any:
    """A JSON-able rendering of `value` following `shape` (keys lower-camel-cased as CloudTrail shows them)."""
    if value is None:
        return None
    if shape is not None and shape.metadata.get("sensitive"):
        return HIDDEN
    if isinstance(value, dict):
        members = getattr(shape, "members", None) if shape is not None and shape.type_name == "structure" else None
        value_shape = getattr(shape, "value", None) if shape is not None and shape.type_name == "map" else None
        out: dict[str, Any] = {}
        for k, v in value.items():
            ms = members.get(k) if members is not None else value_shape
            if _sensitive(str(k), ms if members is not None else None):
                out[_lower_first(k) if camel and members is not None else k] = HIDDEN
                continue
            out[_lower_first(k) if camel and members is not None else k] = render(v, ms, camel)
        return out
    if isinstance(value, (list, tuple)):
        item = getattr(shape, "member", None) if shape is not None and shape.type_name == "list" else None
        return [render(v, item, camel) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return HIDDEN if len(value) > 0 else ""
    if shape is not None and shape.type_name == "timestamp" or isinstance(value, datetime.datetime):
        return _time(value)
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def api_parameters(service: str, operation: str, params: dict[str, Any] | None) -> dict[str, Any] | None:
    """requestParameters of a non-S3 call: the input members, camel-cased, sensitive ones hidden."""
    if not params:
        return None
    return render(params, input_shape(service, operation))


def api_response(service: str, operation: str, output: dict[str, Any] | None) -> dict[str, Any] | None:
    if not output:
        return None
    return render(output, output_shape(service, operation))


@functools.lru_cache(maxsize=1024)
def _wire_members(service: str, operation: str, output: bool,
                  wanted: frozenset[str] | None) -> tuple[tuple[str, str, bool], ...]:
    """(member, wire name, is timestamp) of the header/query members a record may show, never sensitive ones."""
    shape = output_shape(service, operation) if output else input_shape(service, operation)
    if shape is None:
        return ()
    out = []
    for name, ms in shape.members.items():
        loc = ms.serialization.get("location")
        if loc not in ("header", "querystring"):
            continue
        wire = ms.serialization.get("name", name)
        if wanted is not None and wire.lower() not in wanted and loc == "header":
            continue
        if _sensitive(name, ms) or ms.type_name in ("map", "structure", "list"):
            continue  # S3 drops secret headers altogether (SSE-C keys)
        out.append((name, wire, ms.type_name == "timestamp"))
    return tuple(out)


def s3_header_members(service: str, operation: str, values: dict[str, Any] | None, output: bool,
                      wanted: frozenset[str] | None = None) -> dict[str, Any]:
    """S3 shows header/query members under their wire names (`x-amz-version-id`, `versionId`)."""
    out: dict[str, Any] = {}
    if not values:
        return out
    for name, wire, is_time in _wire_members(service, operation, output, wanted):
        v = values.get(name)
        if v is None:
            continue
        if isinstance(v, (bytes, bytearray)):
            v = base64.b64encode(bytes(v)).decode()
        elif is_time:
            v = _time(v)
        out[wire] = v
    return out
