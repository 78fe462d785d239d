"""twinstore: a self-hosted, multi-region, S3-compatible object store."""

__version__ = "0.1.0"
