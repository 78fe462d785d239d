"""The rows writer (listings) writes exactly what the model's structure writer writes for the same entries."""

from __future__ import annotations

from typing import Any

import pytest

from twinstore.protocol.model import operation
from twinstore.protocol.xml_out import rows_writer_for, writer_for

ROWS = [("a&b<c> \u00e9/x\r", 1732480000123456, "abc", 5, "STANDARD", None, None),
        ("k+ey 2", 1732480001999999, "def-2", 0, "GLACIER", "CRC64NVME", "FULL_OBJECT"),
        ("", -1, "", 2**40, "STANDARD", "SHA256", "COMPOSITE")]
COLUMNS = ("Key", "LastModified", "ETag", "Size", "StorageClass", "ChecksumAlgorithm", "ChecksumType")
OWNER = {"ID": "123456789012", "DisplayName": "o&wner"}


def _quote(etag: str) -> str:
    return f'"{etag}"'


@pytest.mark.parametrize("op_name", ["ListObjectsV2", "ListObjects"])
@pytest.mark.parametrize("owner", [None, OWNER])
def test_rows_writer_matches_structure_writer(op_name: str, owner: dict[str, str] | None) -> None:
    shape = operation("s3", op_name).output_shape.members["Contents"].member
    parts: list[str] = []
    for r in ROWS:
        entry: dict[str, Any] = {"Key": r[0], "LastModified": r[1], "ETag": _quote(r[2]), "Size": r[3],
                                 "StorageClass": r[4]}
        if r[5] is not None:
            entry["ChecksumAlgorithm"], entry["ChecksumType"] = [r[5]], r[6]
        if owner is not None:
            entry["Owner"] = owner
        parts.append("<Contents>")
        writer_for(shape)(entry, parts.append)
        parts.append("</Contents>")
    rows: list[Any] = [r + (owner,) for r in ROWS] if owner is not None else ROWS
    write = rows_writer_for(shape, "Contents", COLUMNS + (("Owner",) if owner else ()),
                            ("ChecksumAlgorithm", "ChecksumType"), ("ETag",))
    assert write(rows, _quote) == "".join(parts)
