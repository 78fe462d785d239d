"""Tag sets (bucket and object tagging) and the `x-amz-tagging` header form."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote

from ..protocol.errors import AWSError


def check_tag_set(tag_set: list[dict[str, Any]], limit: int) -> None:
    if len(tag_set) > limit:
        raise AWSError("InvalidTag", f"Object tags cannot be greater than {limit}" if limit == 10
                       else "Bucket tag count cannot be greater than 50")
    seen: set[str] = set()
    for tag in tag_set:
        key, value = tag.get("Key", ""), tag.get("Value", "")
        if not key or len(key) > 128:
            raise AWSError("InvalidTag", "The TagKey you have provided is invalid", TagKey=key)
        if len(value) > 256:
            raise AWSError("InvalidTag", "The TagValue you have provided is invalid", TagKey=key, TagValue=value)
        if key.lower().startswith("aws:"):
            raise AWSError("InvalidTag", "System tags cannot be added/updated by requester", TagKey=key)
        if key in seen:
            raise AWSError("InvalidTag", "Cannot provide multiple Tags with the same key", TagKey=key)
        seen.add(key)


def tags_from_set(tag_set: list[dict[str, Any]]) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in tag_set}


def tags_to_set(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def parse_tagging_header(value: str) -> dict[str, str]:
    pairs = parse_qsl(value, keep_blank_values=True)
    tag_set = [{"Key": k, "Value": v} for k, v in pairs]
    check_tag_set(tag_set, limit=10)
    return tags_from_set(tag_set)


def tagging_header(tags: dict[str, str]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in tags.items())
