"""pytest wrapper around the signer self-check: ``pytest bench/test_sigv4.py``."""

from bench.sigv4 import selfcheck


def test_sigv4_matches_botocore() -> None:
    assert selfcheck(n=200) > 0
