"""The per-version encryption record kept in metadata: how the data key is wrapped and what the segments are
bound to. The data key itself is never stored in the clear."""

from __future__ import annotations

import base64
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

from .segments import LEGACY_SEGMENT, SEGMENT, SEGMENT_SIZES, StreamContext

SSE_S3 = "AES256"
SSE_KMS = "aws:kms"
SSE_C = "SSE-C"


@dataclass(slots=True)
class Envelope:
    algorithm: str  # SSE_S3 | SSE_KMS | SSE_C
    wrapped_key: bytes  # by the master key (kid), the KMS key (a KMS ciphertext blob) or the customer key
    prefix: bytes = field(default_factory=lambda: secrets.token_bytes(4))  # nonce prefix
    sid: bytes = field(default_factory=lambda: secrets.token_bytes(12))  # stream id, in every segment's AAD
    kid: str = ""  # master key id (SSE-S3)
    kms_key: str = ""  # KMS key ARN (SSE-KMS)
    bucket_key: bool = False
    bucket_key_blob: bytes = b""  # SSE-KMS with an S3 Bucket Key: the bucket key as a KMS ciphertext blob; the
    # data key is then wrapped by that bucket key instead of by KMS itself
    context: str = ""  # SSE-KMS encryption context as the client sent it (base64 JSON), if any
    customer_md5: str = ""  # SSE-C: base64 MD5 of the customer key, echoed in responses
    customer_salt: bytes = b""
    customer_mac: bytes = b""
    parts: list[int] = field(default_factory=list)  # multipart: the part number of each blob segment
    # An SSE-C replica (ciphertext copied verbatim from another bucket): the bucket id its segments were sealed
    # under, and a tag by this region's master key (origin_kid) authenticating that record (s3/ssec_replica.py)
    origin: int | None = None
    origin_kid: str = ""
    origin_tag: bytes = b""
    segment: int = SEGMENT  # plaintext bytes per sealed segment (LEGACY_SEGMENT when the record names none)

    def stream(self, data_key: bytes, bucket_id: int, key: str, part: int = 0) -> StreamContext:
        sealed_under = self.origin if self.origin is not None else bucket_id
        identity = struct.pack(">Q", sealed_under) + self.sid + key.encode("utf-8")
        return StreamContext(data_key, self.prefix, identity, part, self.segment)

    def origin_label(self, bucket_id: int, key: str, vid: str) -> bytes:
        """What an SSE-C replica's origin tag authenticates: the sealed-under bucket id, the bucket, key and
        version the envelope now belongs to, and the stream id (so the record cannot be moved to another object)."""
        return (b"twinstore-ssec-origin1" + struct.pack(">QQ", self.origin or 0, bucket_id) + self.sid
                + vid.encode() + b"/" + key.encode("utf-8"))

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"alg": self.algorithm, "wk": _b64(self.wrapped_key), "np": _b64(self.prefix),
                             "sid": _b64(self.sid), "seg": self.segment}
        if self.kid:
            d["kid"] = self.kid
        if self.kms_key:
            d["kms"] = self.kms_key
        if self.bucket_key:
            d["bke"] = True
        if self.bucket_key_blob:
            d["bkb"] = _b64(self.bucket_key_blob)
        if self.context:
            d["ctx"] = self.context
        if self.customer_md5:
            d["cmd5"] = self.customer_md5
            d["csalt"] = _b64(self.customer_salt)
            d["cmac"] = _b64(self.customer_mac)
        if self.parts:
            d["parts"] = self.parts
        if self.origin is not None:
            d["ob"], d["okid"], d["otag"] = self.origin, self.origin_kid, _b64(self.origin_tag)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Envelope:
        """Raises ValueError (or KeyError/TypeError) for a record that is not an envelope."""
        segment = d.get("seg", LEGACY_SEGMENT)
        if not isinstance(segment, int) or isinstance(segment, bool) or segment not in SEGMENT_SIZES:
            raise ValueError(f"unknown segment size {segment!r}")
        return cls(d["alg"], _unb64(d["wk"]), _unb64(d["np"]), _unb64(d["sid"]), d.get("kid", ""),
                   d.get("kms", ""), bool(d.get("bke")), _unb64(d.get("bkb", "")), d.get("ctx", ""),
                   d.get("cmd5", ""), _unb64(d.get("csalt", "")), _unb64(d.get("cmac", "")),
                   list(d.get("parts") or []), d.get("ob"), d.get("okid", ""), _unb64(d.get("otag", "")), segment)


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _unb64(s: str) -> bytes:
    return base64.b64decode(s) if s else b""
