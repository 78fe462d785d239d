"""Durable replacement of small private files (keys, secrets, credentials)."""

from __future__ import annotations

import os


def write_private_file(path: str, data: bytes) -> None:
    """Writes `data` to `path` atomically with mode 0600: a temporary file, fsynced, renamed over `path`, and the
    directory fsynced, so a crash leaves either the old content or the new, never a mix or an empty file."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing leftover keeps its old mode otherwise
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
