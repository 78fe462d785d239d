"""An SSE-C replica's envelope: the sealed-under bucket it records survives JSON, decides the segments' identity,
and its tag binds it to one bucket, key, version and stream."""

from __future__ import annotations

import os

import pytest

from twinstore.crypto.envelope import SSE_C, Envelope
from twinstore.crypto.keyring import unwrap_with, wrap_with
from twinstore.crypto.segments import IntegrityError, decrypt_segments, encrypt_all, segment_count

DATA_KEY, MASTER = os.urandom(32), os.urandom(32)


def test_replica_envelope_opens_the_sources_segments() -> None:
    src = Envelope(SSE_C, b"wk", customer_md5="md5", customer_salt=b"s", customer_mac=b"m", parts=[1, 2])
    data = os.urandom(200_000)
    sealed = encrypt_all(src.stream(DATA_KEY, 7, "k", 2), data)
    rep = Envelope.from_json(src.to_json())
    rep.origin = 7
    rep.origin_kid, rep.origin_tag = "mk", wrap_with(MASTER, b"", rep.origin_label(9, "k", "v1"))
    rep = Envelope.from_json(rep.to_json())
    assert (rep.origin, rep.origin_kid, rep.parts) == (7, "mk", [1, 2])
    assert decrypt_segments(rep.stream(DATA_KEY, 9, "k", 2), sealed, 0, segment_count(len(data), rep.segment)) == data
    unwrap_with(MASTER, rep.origin_tag, rep.origin_label(9, "k", "v1"))
    for label in (rep.origin_label(8, "k", "v1"), rep.origin_label(9, "k2", "v1"), rep.origin_label(9, "k", "v2")):
        with pytest.raises(IntegrityError):
            unwrap_with(MASTER, rep.origin_tag, label)
    rep.origin = 6  # a wrong sealed-under record opens nothing
    with pytest.raises(IntegrityError):
        decrypt_segments(rep.stream(DATA_KEY, 9, "k", 2), sealed, 0, segment_count(len(data), rep.segment))
    with pytest.raises(IntegrityError):  # nor does the right one for another part's stream
        rep.origin = 7
        decrypt_segments(rep.stream(DATA_KEY, 9, "k", 1), sealed, 0, segment_count(len(data), rep.segment))
    assert Envelope.from_json(src.to_json()).origin is None and "ob" not in src.to_json()
