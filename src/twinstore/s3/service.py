"""The state every S3 handler works with, and the lookups they share."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from ..blob.files import BlobStore
from ..iam.policy import Policy
from ..meta.ids import VersionIdFactory
from ..meta.model import BlobSegment, Bucket, ObjectVersion, OutboxItem
from ..meta.store import GlobalStore, RegionStore
from ..protocol.errors import AWSError
from .http import S3Request, S3Response
from .sse import SSEConfig

Handler = Callable[["S3Service", S3Request], Awaitable[S3Response]]
# Replication seam (the replication package, a higher layer, supplies it): given a bucket, a version about to be
# committed and the event ("put" | "delete" | "tags"), returns the outbox items to commit in the same
# transaction, and marks the version (extra["replication"]) as it should be stored.
ReplicationPlanner = Callable[[Bucket, ObjectVersion, str], list[OutboxItem]]
HANDLERS: dict[str, Handler] = {}


def handles(*operations: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for op in operations:
            HANDLERS[op] = fn
        return fn
    return register


@dataclass
class S3Service:
    region: str
    account_id: str
    store: RegionStore
    global_store: GlobalStore
    blobs: BlobStore
    endpoint: str = ""
    replication_planner: ReplicationPlanner | None = None
    replication_notify: Callable[[], None] | None = None  # wakes the replication workers after a commit
    # IAM: the user/role ARNs a bucket policy names -> their unique ids (raises PolicyError for one that does not
    # exist): bucket policies name existing principals and stay bound to them, as on AWS. None: not checked.
    principal_ids: Callable[[Policy], dict[str, str]] | None = None
    sse: SSEConfig = field(default_factory=SSEConfig)
    version_ids: VersionIdFactory = field(init=False)
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.version_ids = VersionIdFactory(self.region)

    async def bucket(self, name: str | None) -> Bucket:
        """The bucket, if it lives in this region; the AWS redirect if it lives in another; else NoSuchBucket."""
        if not name:
            raise AWSError("NoSuchBucket", BucketName=name)
        b = self.store.cached_bucket(name)
        if b is not None:
            return b
        reg = await self.global_store.lookup_bucket(name)
        if reg is not None and reg.state == "active" and reg.region != self.region:
            raise redirect(name, reg.region)
        raise AWSError("NoSuchBucket", BucketName=name)

    def plan_replication(self, bucket: Bucket, v: ObjectVersion, event: str) -> list[OutboxItem]:
        return self.replication_planner(bucket, v, event) if self.replication_planner is not None else []

    def replication_queued(self, items: list[OutboxItem]) -> None:
        if items and self.replication_notify is not None:
            self.replication_notify()

    def free_later(self, segments: list[BlobSegment]) -> None:
        """Deletes data that committed metadata no longer references (after the commit, never before)."""
        if not segments:
            return
        task = asyncio.get_running_loop().create_task(self.blobs.delete(s.blob_id for s in segments))
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def redirect(bucket: str, region: str) -> AWSError:
    return AWSError("PermanentRedirect", headers={"x-amz-bucket-region": region}, Bucket=bucket,
                    Endpoint=f"s3.{region}.amazonaws.com")
