"""Request parameter extraction: headers, query string and URI into the operation's input members."""

from __future__ import annotations

import base64
from typing import Any, Callable, Mapping

from botocore.model import OperationModel, Shape, StructureShape

from .errors import AWSError
from .timefmt import parse_http_date
from .xml_in import parse_xml_payload


def _converter(shape: Shape, source: str) -> Callable[[str], Any]:
    t = shape.type_name
    if t in ("integer", "long"):
        def to_int(v: str) -> int:
            try:
                return int(v)
            except ValueError:
                raise AWSError("InvalidArgument", f"Provided {source} is not a valid integer") from None
        return to_int
    if t == "boolean":
        return lambda v: v.strip().lower() == "true"
    if t == "timestamp":
        def to_ts(v: str) -> Any:
            parsed = parse_http_date(v)
            return parsed if parsed is not None else v
        return to_ts
    if t == "blob":
        return lambda v: base64.b64decode(v)
    return lambda v: v


class RequestParser:
    """Compiled per operation: which input member comes from which header or query parameter."""

    def __init__(self, op: OperationModel) -> None:
        self.op = op
        shape = op.input_shape
        self.headers: list[tuple[str, str, Callable[[str], Any]]] = []
        self.prefix_maps: list[tuple[str, str]] = []
        self.query: list[tuple[str, str, Callable[[str], Any]]] = []
        self.query_names: set[str] = set()
        self.payload_member: str | None = None
        self.payload_shape: Shape | None = None
        self.payload_root: str | None = None
        if shape is None:
            return
        for mname, mshape in shape.members.items():
            ser = mshape.serialization
            loc = ser.get("location")
            if loc == "header":
                self.headers.append((mname, ser["name"].lower(), _converter(mshape, ser["name"])))
            elif loc == "headers":
                self.prefix_maps.append((mname, ser["name"].lower()))
            elif loc == "querystring":
                self.query.append((mname, ser["name"], _converter(mshape, ser["name"])))
                self.query_names.add(ser["name"])
        payload = shape.serialization.get("payload")
        if payload:
            self.payload_member = payload
            pshape = shape.members[payload]
            self.payload_shape = pshape
            self.payload_root = pshape.serialization.get("name", pshape.name)

    @property
    def xml_payload(self) -> bool:
        return isinstance(self.payload_shape, StructureShape)

    def parse(self, headers: Mapping[str, str], query: Mapping[str, str]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for mname, hname, conv in self.headers:
            v = headers.get(hname)
            if v is not None:
                params[mname] = conv(v)
        for mname, prefix in self.prefix_maps:
            meta = {k[len(prefix):]: v for k, v in headers.items() if k.startswith(prefix)}
            if meta:
                params[mname] = meta
        for mname, qname, conv in self.query:
            v = query.get(qname)
            if v is not None:
                params[mname] = conv(v)
        return params

    def parse_payload(self, body: bytes) -> Any:
        """The payload member's value: parsed XML for structures, text for strings."""
        if self.payload_shape is None:
            return None
        if isinstance(self.payload_shape, StructureShape):
            if not body.strip():
                return None
            assert self.payload_root is not None
            return parse_xml_payload(body, self.payload_shape, self.payload_root)
        if self.payload_shape.type_name == "string":
            try:
                return body.decode("utf-8")
            except UnicodeDecodeError:
                raise AWSError("InvalidArgument", "Body is not valid UTF-8") from None
        return body
