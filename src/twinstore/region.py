"""Composition root of one region process: stores, services and the ASGI app, wired together.

Deployment data directory layout (one per deployment, shared by its regions on one machine):
    credentials.json            root account (0600)
    global.db                   bucket-name namespace, region endpoints (what AWS keeps global)
    iam.db                      IAM users, access keys, roles, groups, policies (global; 0600)
    sts-secret.key              the key STS session tokens are signed with (0600)
    regions/<name>/meta.db      this region's metadata
    regions/<name>/blobs/       this region's object data
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass

from .auth.credentials import CredentialDirectory, load_root_account
from .auth.request import ApiService
from .blob.files import BlobStore
from .edge.app import InternalRoute, TwinstoreApp
from .edge.proxy import RegionProxy
from .iam.authority import Iam
from .iam.service import IamService
from .iam.sqlite_store import SqliteIamStore
from .iam.sts import StsService
from .iam.tokens import TokenCodec, load_secret
from .meta.sqlite.global_store import SqliteGlobalStore
from .meta.sqlite.region_store import SqliteRegionStore
from .replication.engine import Replication
from .replication.sessions import IamPermissions, ServiceRoleSessions
from .s3.service import S3Service

log = logging.getLogger("twinstore.region")


@dataclass
class RegionConfig:
    name: str
    host: str
    port: int
    data_dir: str  # the deployment directory
    account_id: str | None = None
    public_endpoint: str | None = None

    @property
    def region_dir(self) -> str:
        return os.path.join(self.data_dir, "regions", self.name)

    @property
    def endpoint(self) -> str:
        return self.public_endpoint or f"http://{self.host}:{self.port}"


class Region:
    def __init__(self, cfg: RegionConfig) -> None:
        self.cfg = cfg
        os.makedirs(cfg.region_dir, mode=0o700, exist_ok=True)
        self.root = load_root_account(cfg.data_dir, cfg.account_id)
        self.global_store = SqliteGlobalStore(os.path.join(cfg.data_dir, "global.db"))
        self.store = SqliteRegionStore(os.path.join(cfg.region_dir, "meta.db"))
        self.blobs = BlobStore(cfg.region_dir)
        self.s3 = S3Service(cfg.name, self.root.account_id, self.store, self.global_store, self.blobs,
                            endpoint=cfg.endpoint)
        self.proxy = RegionProxy()
        self.iam = Iam(SqliteIamStore(os.path.join(cfg.data_dir, "iam.db")), self.root.account_id,
                       TokenCodec(load_secret(cfg.data_dir)))
        # replication signs as sessions of the rule's role assumed by s3.amazonaws.com, evaluated by IAM
        self.replication = Replication(self.s3, self.store, self.global_store,
                                       ServiceRoleSessions(self.iam.service_session), IamPermissions(self.iam),
                                       self.root.credential)
        self.replication.install()
        self.s3.principal_ids = self.iam.principal_ids
        self._regions: set[str] = {cfg.name}
        self._refresh_task: asyncio.Task[None] | None = None
        self.app = TwinstoreApp(self.s3, CredentialDirectory(self.root, self.iam.lookup), lambda: self._regions,
                                self.proxy, on_startup=self.start, on_shutdown=self.stop,
                                services=self.api_services(), iam=self.iam,
                                internal_routes=[
                                    InternalRoute("/_twinstore/replication/batch", self.replication.batches.handle,
                                                  root_only=False),
                                    InternalRoute("/_twinstore/replication/", self.replication.admin),
                                    InternalRoute("/_twinstore/metrics", self.replication.metrics, public=True)])

    def api_services(self) -> dict[str, ApiService]:
        """The non-S3 services this region serves (IAM, STS, KMS, Logs, CloudTrail, CloudFormation)."""
        services: dict[str, ApiService] = {"iam": IamService(self.iam), "sts": StsService(self.iam)}
        return services

    async def start(self) -> None:
        await self.reconcile_namespace()
        removed = self.blobs.collect_garbage(await self.store.referenced_blob_ids())
        if removed:
            log.info("removed %d unreferenced blob files", removed)
        await self.global_store.set_region_endpoint(self.cfg.name, self.cfg.endpoint)
        self._regions = set(await self.global_store.region_endpoints())
        self._refresh_task = asyncio.get_running_loop().create_task(self._refresh_regions())
        await self.replication.start()

    async def reconcile_namespace(self) -> None:
        """Finishes or undoes bucket creations/deletions a crash interrupted between the two stores."""
        for reg in await self.global_store.list_registrations(region=self.cfg.name):
            if reg.state == "active":
                continue
            if self.store.cached_bucket(reg.name) is not None:
                await self.global_store.set_bucket_state(reg.name, "active")
            else:
                await self.global_store.unregister_bucket(reg.name)

    async def _refresh_regions(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            try:
                self._regions = set(await self.global_store.region_endpoints())
            except Exception:  # noqa: BLE001 - keep the last known set
                log.exception("could not refresh region list")

    async def stop(self) -> None:
        if self._refresh_task:
            self._refresh_task.cancel()
        await self.replication.stop()
        await self.proxy.close()
        await self.store.close()
        await self.global_store.close()
        await self.iam.store.close()
        self.blobs.close()


def serve(cfg: RegionConfig, log_level: str = "warning") -> None:
    import uvicorn
    region = Region(cfg)
    config = uvicorn.Config(region.app, host=cfg.host, port=cfg.port, loop="uvloop", http="httptools",
                            lifespan="on", access_log=False, log_level=log_level, server_header=False,
                            timeout_keep_alive=75, backlog=2048)
    uvicorn.Server(config).run()
