"""AWS's RPC-style wire protocols, driven by botocore's service models:

- query (IAM, STS, CloudFormation): form-encoded `Action=...&Name.member.1=...` requests, XML responses
  wrapped in `<OpResponse><OpResult>` with `<ResponseMetadata>`, errors in `<ErrorResponse>`;
- json 1.0/1.1 (KMS, CloudWatch Logs, CloudTrail): `X-Amz-Target: Prefix.Operation` with a JSON body, JSON
  responses, errors as `{"__type": code, "message": ...}`.

Parsed parameters use the internal conventions: timestamps as int microseconds UTC, blobs as bytes.
Serializers accept timestamps as int microseconds or datetime.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

from .errors import AWSError
from .model import service_model
from .timefmt import parse_http_date
from .xml_out import XML_DECL, fmt_ts, writer_for

# services served through this module, by the name their SigV4 scope carries
RPC_SERVICES = ("iam", "sts", "kms", "logs", "cloudtrail", "cloudformation")


def signing_name(model: ServiceModel) -> str:
    return str(model.metadata.get("signingName") or model.metadata["endpointPrefix"])


def signing_names() -> dict[str, str]:
    """SigV4 scope service name -> botocore service name."""
    return {signing_name(service_model(s)): s for s in RPC_SERVICES}


def _malformed(protocol: str, message: str) -> AWSError:
    if protocol == "query":
        return AWSError("MalformedInput", message, status=400)
    return AWSError("SerializationException", message, status=400)


def _us_from(value: Any, protocol: str) -> int:
    if isinstance(value, bool):
        raise _malformed(protocol, "timestamp expected")
    if isinstance(value, (int, float)) and math.isfinite(value):
        return int(round(value * 1_000_000))
    if isinstance(value, str):
        try:
            return int(round(float(value) * 1_000_000))
        except ValueError:
            pass
        parsed = parse_http_date(value)
        if parsed is not None:
            return parsed
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return int(dt.timestamp() * 1_000_000)
        except ValueError:
            pass
    raise _malformed(protocol, f"Invalid timestamp: {value!r}")


# ---- query protocol ----------------------------------------------------------------------------------------
def parse_query_params(shape: StructureShape | None, form: dict[str, str]) -> dict[str, Any]:
    if shape is None:
        return {}
    return _q_struct(shape, form, "")


def _q_name(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _q_value(shape: Shape, form: dict[str, str], name: str) -> Any:
    if isinstance(shape, StructureShape):
        if not any(k == name or k.startswith(name + ".") for k in form):
            return None
        return _q_struct(shape, form, name)
    if isinstance(shape, ListShape):
        if name in form and form[name] == "":
            return []
        flattened = shape.serialization.get("flattened")
        base = name if flattened else f"{name}.{shape.member.serialization.get('name', 'member')}"
        items: list[Any] = []
        i = 1
        while True:
            v = _q_value(shape.member, form, f"{base}.{i}")
            if v is None:
                break
            items.append(v)
            i += 1
        return items if items or any(k.startswith(base + ".") for k in form) else None
    if isinstance(shape, MapShape):
        flattened = shape.serialization.get("flattened")
        base = name if flattened else f"{name}.entry"
        kname = shape.key.serialization.get("name", "key")
        vname = shape.value.serialization.get("name", "value")
        out: dict[str, Any] = {}
        i = 1
        while f"{base}.{i}.{kname}" in form:
            out[form[f"{base}.{i}.{kname}"]] = _q_value(shape.value, form, f"{base}.{i}.{vname}")
            i += 1
        return out if out else None
    raw = form.get(name)
    if raw is None:
        return None
    return _scalar(shape, raw, "query")


def _q_struct(shape: StructureShape, form: dict[str, str], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mname, mshape in shape.members.items():
        wire = mshape.serialization.get("name", mname)
        v = _q_value(mshape, form, _q_name(prefix, wire))
        if v is not None:
            out[mname] = v
    return out


def _scalar(shape: Shape, raw: Any, protocol: str) -> Any:
    t = shape.type_name
    if t in ("integer", "long"):
        if isinstance(raw, bool):
            raise _malformed(protocol, f"Invalid integer {raw!r}")
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise _malformed(protocol, f"Invalid integer {raw!r}") from None
    if t in ("float", "double"):
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise _malformed(protocol, f"Invalid number {raw!r}") from None
    if t == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise _malformed(protocol, f"Invalid boolean {raw!r}")
    if t == "timestamp":
        return _us_from(raw, protocol)
    if t == "blob":
        if not isinstance(raw, str):
            raise _malformed(protocol, "blob must be a base64 string")
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise _malformed(protocol, "Invalid base64 value") from None
    if not isinstance(raw, str):
        raise _malformed(protocol, f"Expected a string, got {type(raw).__name__}")
    return raw


def query_response(op: OperationModel, output: dict[str, Any], request_id: str) -> bytes:
    ns = op.service_model.metadata.get("xmlNamespace", "")
    name = op.name
    parts = [XML_DECL, f'<{name}Response xmlns="{ns}">']
    shape = op.output_shape
    if shape is not None:
        wrapper = shape.serialization.get("resultWrapper", f"{name}Result")
        parts.append(f"<{wrapper}>")
        writer_for(shape, op.service_model.service_name)(output, parts.append)
        parts.append(f"</{wrapper}>")
    parts.append(f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{name}Response>")
    return "".join(parts).encode()


def query_error(service: ServiceModel, err: AWSError, request_id: str) -> bytes:
    ns = service.metadata.get("xmlNamespace", "")
    kind = "Receiver" if err.status >= 500 else "Sender"
    return (f'{XML_DECL}<ErrorResponse xmlns="{ns}"><Error><Type>{kind}</Type><Code>{escape(err.code)}</Code>'
            f"<Message>{escape(err.message)}</Message></Error><RequestId>{request_id}</RequestId>"
            f"</ErrorResponse>").encode()


def parse_form(body: bytes) -> dict[str, str]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("query", "Request body is not valid UTF-8") from None
    return dict(parse_qsl(text, keep_blank_values=True))


# ---- json protocol ------------------------------------------------------------------------------------------
def parse_json_params(shape: StructureShape | None, body: bytes) -> dict[str, Any]:
    if not body.strip():
        doc: Any = {}
    else:
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise _malformed("json", "Start of structure or map found where not expected.") from None
    if not isinstance(doc, dict):
        raise _malformed("json", "Start of structure or map found where not expected.")
    if shape is None:
        return {}
    return _j_struct(shape, doc)


def _j_struct(shape: StructureShape, doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mname, mshape in shape.members.items():
        wire = mshape.serialization.get("name", mname)
        if wire in doc and doc[wire] is not None:
            out[mname] = _j_value(mshape, doc[wire])
    return out


def _j_value(shape: Shape, value: Any) -> Any:
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            raise _malformed("json", f"Expected an object for {shape.name}")
        return _j_struct(shape, value)
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            raise _malformed("json", f"Expected a list for {shape.name}")
        return [_j_value(shape.member, v) for v in value]
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            raise _malformed("json", f"Expected a map for {shape.name}")
        return {str(k): _j_value(shape.value, v) for k, v in value.items()}
    return _scalar(shape, value, "json")


def _j_out(shape: Shape, value: Any) -> Any:
    if isinstance(shape, StructureShape):
        return {shape.members[m].serialization.get("name", m): _j_out(shape.members[m], v)
                for m, v in value.items() if v is not None and m in shape.members}
    if isinstance(shape, ListShape):
        return [_j_out(shape.member, v) for v in value]
    if isinstance(shape, MapShape):
        return {k: _j_out(shape.value, v) for k, v in value.items()}
    t = shape.type_name
    if t == "timestamp":
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int):
            return value / 1_000_000
        return value
    if t == "blob":
        return base64.b64encode(value if isinstance(value, bytes) else str(value).encode()).decode()
    return value


def json_response(op: OperationModel, output: dict[str, Any]) -> bytes:
    shape = op.output_shape
    doc = _j_out(shape, output) if shape is not None else {}
    return json.dumps(doc, separators=(",", ":")).encode()


def json_error(err: AWSError) -> bytes:
    doc: dict[str, Any] = {"__type": err.code, "message": err.message}
    doc.update({k: v for k, v in err.fields.items()})
    return json.dumps(doc).encode()


def json_content_type(service: ServiceModel) -> str:
    return f"application/x-amz-json-{service.metadata.get('jsonVersion', '1.0')}"


@dataclass(frozen=True, slots=True)
class RpcCall:
    """What the edge needs to know about one RPC request before parsing its parameters."""

    service: str
    operation: OperationModel


def identify(service: str, headers: dict[str, str], form: dict[str, str] | None) -> RpcCall:
    """The operation named by `X-Amz-Target` (json) or the `Action` parameter (query)."""
    model = service_model(service)
    if model.protocol == "json":
        target = headers.get("x-amz-target", "")
        prefix, _, name = target.rpartition(".")
        if prefix != model.metadata.get("targetPrefix") or name not in model.operation_names:
            raise AWSError("UnknownOperationException", f"Unknown operation {target!r}", status=400)
    else:
        name = (form or {}).get("Action", "")
        if name not in model.operation_names:
            raise AWSError("InvalidAction", f"Could not find operation {name or '(none)'} for version "
                                            f"{model.api_version}", status=400)
    return RpcCall(service, model.operation_model(name))


__all__ = ["RPC_SERVICES", "RpcCall", "fmt_ts", "identify", "json_content_type", "json_error", "json_response",
           "parse_form", "parse_json_params", "parse_query_params", "query_error", "query_response",
           "signing_names"]
