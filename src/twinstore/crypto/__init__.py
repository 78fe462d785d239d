"""Encryption at rest: segmented AES-256-GCM streams, data-key envelopes, the region master keyring."""
