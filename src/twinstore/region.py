"""Composition root of one region process: stores, services and the ASGI app, wired together.

Deployment data directory layout (one per deployment, shared by its regions on one machine):
    credentials.json            root account (0600)
    global.db                   bucket-name namespace, region endpoints (what AWS keeps global)
    iam.db                      IAM users, access keys, roles, groups, policies (global; 0600)
    sts-secret.key              the key STS session tokens are signed with (0600)
    regions/<name>/meta.db      this region's metadata
    regions/<name>/logs.db      this region's CloudWatch Logs (log groups, streams, events)
    regions/<name>/audit.db     this region's trails, audit records awaiting delivery, event history
    regions/<name>/blobs/       this region's object data
    regions/<name>/keys/        master keyring (0600), KMS keys
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass

from .audit.api import CloudTrailService
from .audit.auditor import Auditor
from .audit.iamcheck import iam_checker, iam_role_check
from .auth.credentials import CredentialDirectory, load_root_account
from .auth.principal import Credential, Principal
from .auth.request import ApiService
from .blob.files import BlobStore
from .crypto.keyring import MasterKeyring
from .edge.app import InternalRoute, TwinstoreApp
from .edge.proxy import RegionProxy
from .iam.authority import Iam, RequestKeys
from .iam.evaluate import ALLOW
from .iam.service import IamService
from .iam.sqlite_store import SqliteIamStore
from .iam.sts import StsService
from .iam.tokens import TokenCodec, load_secret
from .logs.service import LogsService
from .logs.sqlite_backend import SqliteLogBackend
from .logs.store import LogStore
from .kms.keys import KeyStore
from .kms.service import KmsService
from .meta.sqlite.audit_store import SqliteAuditStore
from .meta.sqlite.global_store import SqliteGlobalStore
from .meta.sqlite.region_store import SqliteRegionStore
from .protocol.errors import AWSError
from .replication.engine import Replication
from .replication.sessions import IamPermissions, ServiceRoleSessions
from .s3.service import S3Service
from .stacks.caller import SERVICE as CLOUDFORMATION
from .stacks.clients import ClientFactory
from .stacks.engine import StackEngine
from .stacks.service import CloudFormationService, to_thread_fetch
from .stacks.store import StackStore
from .s3.sse import SSEConfig

log = logging.getLogger("twinstore.region")


@dataclass
class RegionConfig:
    name: str
    host: str
    port: int
    data_dir: str  # the deployment directory
    account_id: str | None = None
    public_endpoint: str | None = None
    encrypt_at_rest: bool = True  # False only for benchmarks
    master_key_file: str | None = None
    sse_c_over_http: str = "loopback"  # never | loopback | always
    # audit records reach trail destinations this long after the call (AWS: about 5 minutes)
    audit_delivery_seconds: float = float(os.environ.get("TWINSTORE_AUDIT_DELIVERY_SECONDS", "1.0"))

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
        self.lock = region_lock(cfg.region_dir)
        self.root = load_root_account(cfg.data_dir, cfg.account_id)
        self.global_store = SqliteGlobalStore(os.path.join(cfg.data_dir, "global.db"))
        self.store = SqliteRegionStore(os.path.join(cfg.region_dir, "meta.db"))
        self.blobs = BlobStore(cfg.region_dir)
        self.keyring = MasterKeyring.load(cfg.region_dir, cfg.master_key_file)
        self.kms = KmsService(KeyStore(cfg.region_dir, cfg.name, self.root.account_id, self.keyring))
        sse = SSEConfig(self.keyring, self.kms, cfg.encrypt_at_rest, cfg.sse_c_over_http)
        self.s3 = S3Service(cfg.name, self.root.account_id, self.store, self.global_store, self.blobs,
                            endpoint=cfg.endpoint, sse=sse)
        self.log_store = LogStore(SqliteLogBackend(os.path.join(cfg.region_dir, "logs.db")), cfg.name,
                                  self.root.account_id)
        self.logs = LogsService(self.log_store)
        self.proxy = RegionProxy()
        self.iam = Iam(SqliteIamStore(os.path.join(cfg.data_dir, "iam.db")), self.root.account_id,
                       TokenCodec(load_secret(cfg.data_dir)))
        # CloudFormation: providers call this deployment's own APIs, signed with credentials IAM mints for the
        # principal that started the stack operation (its own permissions, never more)
        self.clients = ClientFactory(lambda region: cfg.endpoint, self.root.access_key_id,
                                     self.root.secret_access_key)
        self.stack_store = StackStore(os.path.join(cfg.region_dir, "stacks.db"))
        self.stacks = StackEngine(cfg.name, self.root.account_id, self.stack_store, self.clients,
                                  self._forward_credential)
        self.audit_store = SqliteAuditStore(os.path.join(cfg.region_dir, "audit.db"))
        self.auditor = Auditor(cfg.name, self.root.account_id, self.audit_store, self.s3, logs=self.log_store,
                               delivery_seconds=cfg.audit_delivery_seconds, policy_check=iam_checker(self.iam),
                               role_check=iam_role_check(self.iam, cfg.name, self.root.account_id))
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
                                services=self.api_services(), iam=self.iam, on_call=self.auditor.on_call,
                                internal_routes=[
                                    InternalRoute("/_twinstore/replication/batch", self.replication.batches.handle,
                                                  root_only=False, context=True),
                                    InternalRoute("/_twinstore/replication/", self.replication.admin),
                                    InternalRoute("/_twinstore/metrics", self.replication.metrics, public=True)])
        # batched replicas reach the audit trail as the PutObject/DeleteObject they stand for, like single ones
        self.replication.batches.on_call = self.app.on_call

    def api_services(self) -> dict[str, ApiService]:
        """The non-S3 services this region serves (IAM, STS, KMS, Logs, CloudTrail, CloudFormation)."""
        services: dict[str, ApiService] = {"iam": IamService(self.iam), "sts": StsService(self.iam),
                                           "logs": self.logs, "kms": self.kms,
                                           "cloudtrail": CloudTrailService(self.auditor, self._log_group_exists,
                                                                           self._pass_role)}
        services["cloudformation"] = CloudFormationService(
            self.cfg.name, self.root.account_id, self.stack_store, self.stacks,
            lambda bucket, key: to_thread_fetch(lambda: self.clients.client("s3", self.cfg.name), bucket, key),
            template_access=self._template_access)
        return services

    async def _template_access(self, principal: Principal, bucket: str, key: str) -> bool:
        """May `principal` have CloudFormation read a TemplateURL object? Decided as its GetObject would be
        (identity policies and the bucket policy); a bucket of another region: the account root only."""
        authz = self.app.authz
        if authz is None or self.s3.store.cached_bucket(bucket) is None:
            return principal.is_root
        policy, bound = authz.bucket_policy(bucket, principal)
        return self.iam.decide(principal, "s3:GetObject", f"arn:aws:s3:::{bucket}/{key}", RequestKeys(principal),
                               policy, bound) == ALLOW

    async def _forward_credential(self, principal: Principal) -> Credential:
        """Credentials with exactly `principal`'s permissions, for CloudFormation acting on its behalf."""
        if principal.is_root and principal.account_id == self.root.account_id:
            return self.root.credential()
        return await self.iam.forward_session(principal, CLOUDFORMATION)

    def _pass_role(self, principal: Principal, role_arn: str, source_ip: str) -> None:
        self.iam.pass_role(principal, role_arn, "cloudtrail.amazonaws.com", source_ip)

    async def _log_group_exists(self, name: str) -> bool:
        try:
            await self.log_store.group(name)
        except AWSError:
            return False
        return True

    async def start(self) -> None:
        missing = await self.store.master_key_ids() - set(self.keyring.keys)
        if missing:  # never serve (or write) with a keyring that cannot open existing data
            raise RuntimeError(f"master keys {', '.join(sorted(missing))} are not in the keyring; restore "
                               f"{self.keyring.path or 'TWINSTORE_MASTER_KEY'} before starting this region")
        await self.reconcile_namespace()
        removed = self.blobs.collect_garbage(await self.store.referenced_blob_ids())
        if removed:
            log.info("removed %d unreferenced blob files", removed)
        await self.global_store.set_region_endpoint(self.cfg.name, self.cfg.endpoint)
        self._regions = set(await self.global_store.region_endpoints())
        self._refresh_task = asyncio.get_running_loop().create_task(self._refresh_regions())
        self.log_store.start()
        await self.auditor.start()
        await self.replication.start()
        await self.stacks.start(self._serving)

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

    async def _serving(self) -> None:
        """Returns once this region's endpoint accepts connections (uvicorn listens after startup)."""
        for _ in range(600):
            try:
                _, writer = await asyncio.open_connection(self.cfg.host if self.cfg.host != "0.0.0.0" else
                                                          "127.0.0.1", self.cfg.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        if self._refresh_task:
            self._refresh_task.cancel()
        await self.stacks.stop()
        self.stack_store.close()
        await self.replication.stop()
        await self.auditor.stop()
        await self.audit_store.close()
        await self.proxy.close()
        self.logs.close()
        await self.log_store.close()
        await self.store.close()
        await self.global_store.close()
        await self.iam.store.close()
        self.blobs.close()
        os.close(self.lock)


def region_lock(region_dir: str, wait: bool = False) -> int:
    """An exclusive lock on the region directory, held by its process while it runs (so that `twinstore keys
    rotate` never changes keys under a running region). Raises BlockingIOError if another holds it."""
    import fcntl
    fd = os.open(os.path.join(region_dir, "region.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BaseException:
        os.close(fd)
        raise
    return fd


def serve(cfg: RegionConfig, log_level: str = "warning") -> None:
    import uvicorn
    region = Region(cfg)
    config = uvicorn.Config(region.app, host=cfg.host, port=cfg.port, loop="uvloop", http="httptools",
                            lifespan="on", access_log=False, log_level=log_level, server_header=False,
                            timeout_keep_alive=75, backlog=2048,
                            # the region is the HTTP endpoint: X-Forwarded-* from clients must not become the
                            # source address or the scheme that policies (aws:SourceIp, aws:SecureTransport) see
                            proxy_headers=False)
    uvicorn.Server(config).run()
