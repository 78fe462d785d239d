"""Finds the S3 operation of a request from botocore's HTTP bindings (method, URI template, sub-resources,
required query parameters and headers), rather than from hand-written chains of `if`."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Mapping

from .model import service_model

# Operations whose bindings collide with a preferred twin, and directory-bucket-only operations.
_SHADOWED = {"GetBucketLifecycle", "PutBucketLifecycle", "GetBucketNotification", "PutBucketNotification",
             "ListDirectoryBuckets", "CreateSession"}


@dataclass(frozen=True, slots=True)
class Route:
    operation: str
    method: str
    target: str  # "service" | "bucket" | "object"
    query: tuple[tuple[str, str | None], ...]  # sub-resources from the URI template (value None = any)
    required_query: frozenset[str]
    required_headers: frozenset[str]

    @property
    def weight(self) -> int:
        return len(self.query) * 4 + len(self.required_query) * 2 + len(self.required_headers)


@functools.lru_cache(maxsize=None)
def _routes() -> dict[tuple[str, str], list[Route]]:
    model = service_model("s3")
    table: dict[tuple[str, str], list[Route]] = {}
    for name in model.operation_names:
        if name in _SHADOWED:
            continue
        op = model.operation_model(name)
        uri = op.http["requestUri"]
        path, _, qs = uri.partition("?")
        target = "object" if "{Key+}" in path else "bucket" if "{Bucket}" in path else "service"
        if target == "service" and path != "/":
            continue
        query = []
        for part in qs.split("&") if qs else []:
            k, eq, v = part.partition("=")
            if k == "x-id":
                continue
            query.append((k, v if eq else None))
        req_q: set[str] = set()
        req_h: set[str] = set()
        shape = op.input_shape
        if shape is not None:
            for m in shape.required_members:
                ser = shape.members[m].serialization
                if ser.get("location") == "querystring":
                    req_q.add(ser["name"])
                elif ser.get("location") == "header":
                    req_h.add(ser["name"].lower())
        table.setdefault((op.http["method"], target), []).append(
            Route(name, op.http["method"], target, tuple(query), frozenset(req_q), frozenset(req_h)))
    for routes in table.values():
        routes.sort(key=lambda r: -r.weight)
    return table


@functools.lru_cache(maxsize=None)
def subresources() -> frozenset[str]:
    """Every query parameter that selects an operation; a request naming one we cannot route is refused."""
    names = {k for routes in _routes().values() for r in routes for k, _ in r.query}
    return frozenset(names | {"acl", "torrent", "restore", "select", "website", "cors", "lifecycle",
                              "notification", "replication", "encryption", "object-lock", "legal-hold",
                              "retention", "accelerate", "requestPayment", "analytics", "inventory", "metrics",
                              "intelligent-tiering", "ownershipControls", "policyStatus", "session"})


def route(method: str, target: str, query: Mapping[str, str], headers: Mapping[str, str]) -> str | None:
    for r in _routes().get((method, target), ()):
        if all(k in query and (v is None or query[k] == v) for k, v in r.query) \
                and r.required_query <= query.keys() and r.required_headers <= headers.keys():
            return r.operation
    return None


def consumed_query(operation: str) -> frozenset[str]:
    """Query parameters an operation understands (its sub-resources and querystring members)."""
    return _consumed()[operation]


@functools.lru_cache(maxsize=None)
def _consumed() -> dict[str, frozenset[str]]:
    model = service_model("s3")
    out: dict[str, frozenset[str]] = {}
    for name in model.operation_names:
        op = model.operation_model(name)
        names = {p.partition("=")[0] for p in op.http["requestUri"].partition("?")[2].split("&") if p}
        if op.input_shape is not None:
            names |= {s.serialization["name"] for s in op.input_shape.members.values()
                      if s.serialization.get("location") == "querystring"}
        out[name] = frozenset(names)
    return out
