"""`twinstore keys rotate`: a new region master key; every SSE-S3 data key and KMS key material re-wrapped
under it (object data is not rewritten); then the old master keys are dropped.

Runs with the region stopped (it takes the region's lock). Until the re-wrap finishes, the old keys stay in the
keyring and keep decrypting, so an interrupted rotation loses nothing: run it again.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from ..crypto.envelope import SSE_S3, Envelope
from ..crypto.keyring import MasterKeyring
from ..kms.keys import KeyStore
from ..meta.sqlite.region_store import SqliteRegionStore
from ..region import region_lock


class RotationError(Exception):
    """A rotation that cannot start or finish (region running, keyring unreadable, ...)."""


def rotate(data_dir: str, region: str, master_key_file: str | None = None) -> dict[str, Any]:
    region_dir = os.path.join(data_dir, "regions", region)
    if not os.path.isdir(region_dir):
        raise RotationError(f"no region {region!r} under {data_dir}")
    try:
        lock = region_lock(region_dir)
    except BlockingIOError:
        raise RotationError(f"region {region} is running; stop it before rotating its master key") from None
    try:
        try:
            ring = MasterKeyring.load(region_dir, master_key_file, create=False)
        except FileNotFoundError:
            raise RotationError(f"region {region} has no master keyring yet (start it once first)") from None
        if ring.path is None:
            raise RotationError("the master key comes from the environment; replace it there instead")
        old = sorted(ring.keys)
        new = ring.add_key()

        def rewrap(doc: dict[str, Any]) -> dict[str, Any] | None:
            env = Envelope.from_json(doc)
            if env.origin is not None and env.origin_kid != new:  # an SSE-C replica's origin record tag
                label = env.origin_label(*doc["_at"])
                ring.unwrap(env.origin_kid, env.origin_tag, label)
                env.origin_kid, env.origin_tag = ring.wrap(b"", label)
                return env.to_json()
            if env.algorithm != SSE_S3 or env.kid == new:
                return None
            secret = ring.unwrap(env.kid, env.wrapped_key, env.sid)
            env.kid, env.wrapped_key = ring.wrap(secret, env.sid)
            return env.to_json()

        store = SqliteRegionStore(os.path.join(region_dir, "meta.db"))
        try:
            objects = asyncio.run(store.rewrap_envelopes(rewrap))
        finally:
            asyncio.run(store.close())
        kms_keys = KeyStore(region_dir, region, "", ring).rewrap(ring)
        retired = ring.retire_others()
        return {"new_key": new, "old_keys": old, "retired": retired, "data_keys_rewrapped": objects,
                "kms_materials_rewrapped": kms_keys}
    finally:
        os.close(lock)
