"""KMS key material over time (in-process, with explicit clocks): automatic rotation makes new material once
a period has passed, and every older ciphertext still decrypts; the store survives a reload."""

from __future__ import annotations

import pytest

from twinstore.crypto.keyring import MasterKeyring
from twinstore.kms.keys import DAY_US, KeyStore
from twinstore.protocol.errors import AWSError

T0 = 1_800_000_000 * 1_000_000


def test_automatic_rotation_keeps_old_ciphertexts_readable(tmp_path: object) -> None:
    region_dir = str(tmp_path)
    ring = MasterKeyring.load(region_dir)
    store = KeyStore(region_dir, "us-east-2", "123456789012", ring)
    key = store.create(T0)
    key.rotation, key.rotation_days, key.rotated_us = True, 90, T0
    before = store.encrypt(key, b"old", {"a": "1"}, T0 + DAY_US)
    assert len(key.materials) == 1
    after = store.encrypt(key, b"new", {"a": "1"}, T0 + 91 * DAY_US)
    assert len(key.materials) == 2 and key.rotations[-1]["type"] == "AUTOMATIC"
    header = 5 + len(key.key_id)
    assert (before[header:header + 2], after[header:header + 2]) == (b"\x00\x00", b"\x00\x01")  # material 0, 1
    store.save()

    reloaded = KeyStore(region_dir, "us-east-2", "123456789012", MasterKeyring.load(region_dir))
    for blob, plain in ((before, b"old"), (after, b"new")):
        assert reloaded.decrypt(blob, {"a": "1"}, T0 + 92 * DAY_US)[1] == plain
    with pytest.raises(AWSError) as e:
        reloaded.decrypt(before, {"a": "2"}, T0 + 92 * DAY_US)
    assert e.value.code == "InvalidCiphertextException"


def test_keys_past_their_deletion_window_are_gone(tmp_path: object) -> None:
    store = KeyStore(str(tmp_path), "us-east-2", "123456789012", MasterKeyring.load(str(tmp_path)))
    key = store.create(T0)
    blob = store.encrypt(key, b"x", None, T0)
    key.state, key.deletion_us = "PendingDeletion", T0 + 7 * DAY_US
    with pytest.raises(AWSError) as e:
        store.decrypt(blob, None, T0 + DAY_US)
    assert e.value.code == "KMSInvalidStateException"
    with pytest.raises(AWSError) as e:
        store.resolve(key.key_id, T0 + 8 * DAY_US)
    assert e.value.code == "NotFoundException"
