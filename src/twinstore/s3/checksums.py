"""The flexible checksums S3 accepts (`x-amz-checksum-*`), as incremental hashers."""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Protocol

from awscrt import checksums as crt


class Checksum(Protocol):
    algorithm: str

    def update(self, data: bytes, /) -> None: ...
    def b64digest(self) -> str: ...


class _Crc:
    def __init__(self, algorithm: str, fn: object, width: int) -> None:
        self.algorithm = algorithm
        self._fn = fn
        self._width = width
        self._value = 0

    def update(self, data: bytes, /) -> None:
        self._value = self._fn(data, self._value)  # type: ignore[operator]

    def b64digest(self) -> str:
        return base64.b64encode(self._value.to_bytes(self._width, "big")).decode()


class _Hash:
    def __init__(self, algorithm: str, name: str) -> None:
        self.algorithm = algorithm
        self._h = hashlib.new(name)

    def update(self, data: bytes, /) -> None:
        self._h.update(data)

    def b64digest(self) -> str:
        return base64.b64encode(self._h.digest()).decode()


ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")


def new_checksum(algorithm: str) -> Checksum:
    a = algorithm.upper()
    if a == "CRC32":
        return _Crc(a, zlib.crc32, 4)
    if a == "CRC32C":
        return _Crc(a, crt.crc32c, 4)
    if a == "CRC64NVME":
        return _Crc(a, crt.crc64nvme, 8)
    if a == "SHA1":
        return _Hash(a, "sha1")
    if a == "SHA256":
        return _Hash(a, "sha256")
    raise ValueError(algorithm)


def header_name(algorithm: str) -> str:
    return "x-amz-checksum-" + algorithm.lower()


def output_member(algorithm: str) -> str:
    """The botocore output member for an algorithm, e.g. CRC64NVME -> ChecksumCRC64NVME."""
    return "Checksum" + algorithm.upper()


def composite(algorithm: str, part_digests_b64: list[str]) -> str:
    """Checksum of checksums for multipart objects: `<b64>-<parts>`."""
    h = new_checksum(algorithm)
    for d in part_digests_b64:
        h.update(base64.b64decode(d))
    return f"{h.b64digest()}-{len(part_digests_b64)}"
