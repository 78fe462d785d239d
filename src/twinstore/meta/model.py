"""Metadata records. Times are integer microseconds since the epoch; keys are `str`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VERSIONING_OFF = ""  # never enabled
VERSIONING_ENABLED = "Enabled"
VERSIONING_SUSPENDED = "Suspended"


@dataclass(slots=True)
class Bucket:
    id: int
    name: str
    region: str
    owner: str  # account id
    created_us: int
    versioning: str = VERSIONING_OFF
    object_ownership: str = "BucketOwnerEnforced"
    configs: dict[str, Any] = field(default_factory=dict)  # subresource name -> parsed configuration


@dataclass(slots=True)
class BlobSegment:
    """One contiguous piece of an object's data in the blob store (a multipart object has one per part)."""

    blob_id: str
    size: int


@dataclass(slots=True)
class ObjectVersion:
    bucket_id: int
    key: str
    vid: str  # sortable id (see ids.py); also the public version id unless `null_version`
    null_version: bool
    is_latest: bool
    delete_marker: bool
    last_modified_us: int
    size: int = 0
    etag: str = ""  # without quotes
    owner: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # Content-Type, Cache-Control, ... as sent
    user_meta: dict[str, str] = field(default_factory=dict)
    checksum: dict[str, str] = field(default_factory=dict)  # {"algorithm": "CRC32", "value": "...", "type": ...}
    storage_class: str = "STANDARD"
    segments: list[BlobSegment] = field(default_factory=list)
    part_sizes: list[int] = field(default_factory=list)  # for multipart objects, to serve ?partNumber
    tags: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # sse, replication status, ... (later layers)
    inline: bytes | None = None  # the data itself, for small objects kept in the metadata row
    encryption: dict[str, Any] = field(default_factory=dict)  # the encryption envelope (crypto/envelope.py)

    @property
    def version_id(self) -> str:
        return "null" if self.null_version else self.vid


@dataclass(slots=True)
class MultipartUpload:
    upload_id: str
    bucket_id: int
    key: str
    initiated_us: int
    owner: str
    headers: dict[str, str] = field(default_factory=dict)
    user_meta: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    checksum_algorithm: str = ""
    storage_class: str = "STANDARD"
    extra: dict[str, Any] = field(default_factory=dict)
    encryption: dict[str, Any] = field(default_factory=dict)  # the upload's envelope: every part uses its key


@dataclass(slots=True)
class UploadPart:
    upload_id: str
    part_number: int
    blob_id: str
    size: int
    etag: str
    last_modified_us: int
    checksum: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class BucketRegistration:
    """A bucket name in the deployment-wide namespace."""

    name: str
    region: str
    owner: str
    state: str  # "creating" | "active" | "deleting"
    created_us: int


@dataclass(slots=True)
class ListedVersion:
    """What a listing shows of a version: a slim record, since listings build a thousand of them per page."""

    key: str
    vid: str
    null_version: bool
    is_latest: bool
    delete_marker: bool
    last_modified_us: int
    size: int
    etag: str
    owner: str
    storage_class: str
    checksum: dict[str, str]  # algorithm and type only

    @property
    def version_id(self) -> str:
        return "null" if self.null_version else self.vid


# One current object in a listing, as a plain tuple (a listing holds a thousand; no per-entry object):
# (key, last_modified_us, etag, size, storage_class, checksum algorithm or None, checksum type or None)
ListedObject = tuple[str, int, str, int, str, "str | None", "str | None"]


@dataclass(slots=True)
class ObjectsPage:
    """A page of current objects (ListObjects, ListObjectsV2)."""

    rows: list[ListedObject]
    common_prefixes: list[str]
    truncated: bool
    next_key: str | None = None


@dataclass(slots=True)
class ListPage:
    versions: list[ListedVersion]
    common_prefixes: list[str]
    truncated: bool
    next_key: str | None = None
    next_vid: str | None = None


@dataclass(slots=True)
class OutboxItem:
    """A replication operation still owed to a destination, durable in the same transaction as its version.

    `op` is "put" (object data and metadata), "delete" (a delete marker) or "tags" (a metadata change).
    `seq` orders items; the replication workers keep that order per (bucket, key, destination).
    """

    bucket_id: int
    key: str
    vid: str
    op: str
    dest_bucket: str
    rule_id: str
    size: int = 0
    created_us: int = 0
    seq: int = 0
    attempts: int = 0
    next_try_us: int = 0
    last_error: str = ""
    source: str = "live"  # "live" | "backfill"
    rtc: bool = False  # the rule has ReplicationTime enabled (RTC threshold accounting)


@dataclass(slots=True)
class ReplicationFailure:
    """An outbox item that ended in a permanent error: the source version shows FAILED with `reason`."""

    bucket_id: int
    key: str
    vid: str
    op: str
    dest_bucket: str
    rule_id: str
    size: int
    reason: str
    failed_us: int
