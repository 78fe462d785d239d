"""Request payload parsing for rest-xml services: XML -> dict, validated against the botocore shape.

Anything that is not well-formed, has the wrong root element, misses a required member or holds a value of
the wrong type raises MalformedXML, as S3 does.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

from .errors import AWSError
from .timefmt import parse_iso8601

MAX_XML_BYTES = 1 << 20
# Enums the operation validates itself, with its own error code (S3 answers InvalidLocationConstraint, not
# MalformedXML, for an unknown region), or that name regions newer than the bundled model.
OPEN_ENUMS = frozenset({"BucketLocationConstraint"})


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_xml_payload(body: bytes, shape: StructureShape, root_name: str) -> dict[str, Any]:
    if len(body) > MAX_XML_BYTES:
        raise AWSError("MalformedXML", "The XML you provided was larger than the maximum allowed size")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise AWSError("MalformedXML")
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise AWSError("MalformedXML") from None
    if _local(root.tag) != root_name:
        raise AWSError("MalformedXML")
    return _parse_struct(root, shape)


def _parse_struct(elem: ET.Element, shape: StructureShape) -> dict[str, Any]:
    children: dict[str, list[ET.Element]] = {}
    for child in elem:
        children.setdefault(_local(child.tag), []).append(child)
    out: dict[str, Any] = {}
    for mname, mshape in shape.members.items():
        ser = mshape.serialization
        if ser.get("location"):
            continue
        if ser.get("xmlAttribute"):
            attr = ser.get("name", mname)
            local_attr = attr.split(":", 1)[-1]
            for k, v in elem.attrib.items():
                if _local(k) == local_attr:
                    out[mname] = v
            continue
        name = ser.get("name", mname)
        found = children.get(name)
        if not found:
            continue
        if isinstance(mshape, ListShape) and mshape.serialization.get("flattened"):
            out[mname] = [_parse_value(e, mshape.member) for e in found]
        else:
            if len(found) > 1:
                raise AWSError("MalformedXML")
            out[mname] = _parse_value(found[0], mshape)
    for req in shape.required_members:
        if req not in out and not shape.members[req].serialization.get("location"):
            raise AWSError("MalformedXML")
    return out


def _parse_value(elem: ET.Element, shape: Shape) -> Any:
    if isinstance(shape, StructureShape):
        return _parse_struct(elem, shape)
    if isinstance(shape, ListShape):
        member_name = shape.member.serialization.get("name", "member")
        return [_parse_value(e, shape.member) for e in elem if _local(e.tag) == member_name]
    if isinstance(shape, MapShape):
        raise AWSError("MalformedXML")
    text = elem.text or ""
    t = shape.type_name
    try:
        if t in ("integer", "long"):
            return int(text.strip())
        if t in ("float", "double"):
            return float(text.strip())
        if t == "boolean":
            v = text.strip().lower()
            if v not in ("true", "false"):
                raise ValueError(v)
            return v == "true"
        if t == "timestamp":
            ts = parse_iso8601(text)
            if ts is None:
                raise ValueError(text)
            return ts
    except ValueError:
        raise AWSError("MalformedXML") from None
    if shape.enum and text not in shape.enum and shape.name not in OPEN_ENUMS:
        raise AWSError("MalformedXML")
    return text
