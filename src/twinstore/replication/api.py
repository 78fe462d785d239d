"""PutBucketReplication / GetBucketReplication / DeleteBucketReplication (registered into the S3 handler table)."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from ..auth.principal import Credential
from ..meta.model import VERSIONING_ENABLED
from ..meta.store import GlobalStore
from ..protocol.errors import AWSError
from ..s3.http import S3Request, S3Response
from ..s3.service import HANDLERS, S3Service
from .client import RegionClient
from .config import BucketFacts, destinations, validate_destinations, validate_shape
from .sessions import Permissions

CONFIG_KEY = "replication"


class ReplicationApi:
    def __init__(self, global_store: GlobalStore, client: RegionClient, permissions: Permissions,
                 service_credential: Callable[[], Credential]) -> None:
        self.global_store = global_store
        self.client = client
        self.permissions = permissions
        self.service_credential = service_credential

    def register(self) -> None:
        HANDLERS["PutBucketReplication"] = self.put
        HANDLERS["GetBucketReplication"] = self.get
        HANDLERS["DeleteBucketReplication"] = self.delete

    async def facts(self, svc: S3Service, name: str) -> BucketFacts:
        local = svc.store.cached_bucket(name)
        if local is not None:
            return BucketFacts(local.versioning)
        reg = await self.global_store.lookup_bucket(name)
        if reg is None or reg.state != "active":
            return BucketFacts(None)
        endpoint = (await self.global_store.region_endpoints()).get(reg.region)
        if not endpoint:
            raise AWSError("ServiceUnavailable", f"The region of bucket {name} is not reachable", status=503)
        try:
            return BucketFacts(await self.client.bucket_versioning(endpoint, name, self.service_credential(),
                                                                   reg.region))
        except (OSError, ConnectionError, TimeoutError) as exc:
            raise AWSError("ServiceUnavailable", f"The region of bucket {name} is not reachable: {exc}",
                           status=503) from None

    async def put(self, svc: S3Service, req: S3Request) -> S3Response:
        bucket = await svc.bucket(req.bucket)
        config: dict[str, Any] | None = req.payload
        if not config:
            raise AWSError("MalformedXML")
        if bucket.versioning != VERSIONING_ENABLED:
            raise AWSError("InvalidRequest", "Versioning must be 'Enabled' on the bucket to apply a replication "
                                             "configuration")
        config = validate_shape(config)  # iam:PassRole on the role is checked by the edge's authorization
        facts = {name: await self.facts(svc, name) for name in destinations(config)}
        validate_destinations(config, facts)
        bucket.configs[CONFIG_KEY] = config
        await svc.store.update_bucket(bucket)
        return S3Response()

    async def get(self, svc: S3Service, req: S3Request) -> S3Response:
        bucket = await svc.bucket(req.bucket)
        config = bucket.configs.get(CONFIG_KEY)
        if not config:
            raise AWSError("ReplicationConfigurationNotFoundError", BucketName=bucket.name)
        return S3Response({"ReplicationConfiguration": config})

    async def delete(self, svc: S3Service, req: S3Request) -> S3Response:
        bucket = await svc.bucket(req.bucket)
        if bucket.configs.pop(CONFIG_KEY, None) is not None:
            await svc.store.update_bucket(bucket)
        return S3Response(status=204)


Handler = Callable[[S3Service, S3Request], Awaitable[S3Response]]
