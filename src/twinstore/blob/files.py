"""Blob files on the local filesystem.

A blob is written to `<id>.tmp`, fsynced, renamed to `<id>` and its directory fsynced before the metadata
that references it commits, so an acknowledged object's data is on disk. A crash leaves at most `.tmp` files
and unreferenced blobs, which `collect_garbage` removes at startup. All file I/O runs on a thread pool; the
hashing of the data happens on that same thread, next to the write, off the event loop.
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import AsyncIterator, Iterable, Protocol

from ..aio.pool import ThreadPool

WRITE_BUFFER = 1 << 20
# start writing a large blob back to disk while it is still being received: every SYNC_EVERY bytes, an
# fdatasync runs on another pool thread (never blocking the writes), so the final fsync only has the tail left
SYNC_EVERY = 8 << 20
READ_CHUNK = 1 << 20


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...


class Transform(Protocol):
    """Turns the data into what is stored (e.g. encryption); may hold bytes back until `finish`."""

    def update(self, data: bytes, /) -> bytes: ...
    def finish(self) -> bytes: ...


class BlobWriter:
    """Streams one blob to disk. `write` buffers; full buffers are hashed and written off-loop."""

    def __init__(self, store: BlobStore, hashers: Iterable[Hasher], transform: Transform | None = None) -> None:
        self.store = store
        self.blob_id = "%032x" % random.getrandbits(128)  # a name, not a secret
        self.path = store.path_of(self.blob_id)
        self.tmp_path = self.path + ".tmp"
        self.size = 0
        self._hashers = list(hashers)
        self._transform = transform
        self.stored_size = 0  # bytes on disk (after the transform)
        self._buf: list[bytes] = []
        self._buffered = 0
        self._fd: int | None = None
        self._pending: asyncio.Future[object] | None = None
        self._syncing: asyncio.Future[None] | None = None
        self._unsynced = 0

    def _hash_sync(self, data: bytes) -> None:
        for h in self._hashers:
            h.update(data)

    def _write_sync(self, data: bytes, final: bool = False) -> None:
        if self._transform is not None:  # on this I/O thread, next to the write
            data = self._transform.update(data)
            if final:
                data += self._transform.finish()
        self.stored_size += len(data)
        if self._fd is None:
            self._fd = os.open(self.tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]

    async def write(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        self._buf.append(data)
        self._buffered += len(data)
        if self._buffered >= WRITE_BUFFER:
            await self._flush()

    async def _flush(self) -> None:
        data = b"".join(self._buf) if len(self._buf) != 1 else self._buf[0]
        self._buf, self._buffered = [], 0
        if self._pending is not None:  # keep at most one write in flight: pipelined, bounded memory
            await self._pending
        # hashing and writing the same buffer run on two threads at once (hashlib releases the GIL), while
        # the event loop receives the next buffer
        self._pending = asyncio.gather(self.store.pool.run(self._hash_sync, data),
                                       self.store.pool.run(self._write_sync, data))
        self._unsynced += len(data)
        if self._unsynced >= SYNC_EVERY and self._fd is not None and (
                self._syncing is None or self._syncing.done()):
            if self._syncing is not None:
                await self._syncing  # surfaces an I/O error now rather than at commit
            self._unsynced = 0
            self._syncing = self.store.pool.run(os.fdatasync, self._fd)

    async def _sync_done(self) -> None:
        if self._syncing is not None:
            fut, self._syncing = self._syncing, None
            await fut

    def _commit_sync(self, tail: bytes) -> None:
        if tail or self._fd is None or self._transform is not None:
            self._hash_sync(tail)
            self._write_sync(tail, final=True)
        assert self._fd is not None
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        os.rename(self.tmp_path, self.path)
        self.store.fsync_dir(os.path.dirname(self.path))

    async def commit(self) -> str:
        """Makes the blob durable; returns its id. Hash digests are final after this."""
        if self._pending is not None:
            await self._pending
            self._pending = None
        await self._sync_done()
        tail = b"".join(self._buf)
        self._buf, self._buffered = [], 0
        await self.store.pool.run(self._commit_sync, tail)
        return self.blob_id

    async def finish_hashing(self) -> None:
        """Hashes everything written so far (so digests can be checked before commit)."""
        if self._pending is not None:
            await self._pending
            self._pending = None
        if self._buf:
            await self._flush()
            assert self._pending is not None
            await self._pending
            self._pending = None

    def _abort_sync(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        for p in (self.tmp_path, self.path):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass

    async def abort(self) -> None:
        if self._pending is not None:
            try:
                await self._pending
            except Exception:  # noqa: BLE001 - aborting anyway
                pass
            self._pending = None
        try:
            await self._sync_done()
        except OSError:  # aborting anyway
            pass
        await self.store.pool.run(self._abort_sync)


class BlobStore:
    def __init__(self, root: str, threads: int = 16) -> None:
        self.root = os.path.join(root, "blobs")
        self.pool = ThreadPool(threads, "blob-io")
        for i in range(256):
            os.makedirs(os.path.join(self.root, f"{i:02x}"), exist_ok=True)

    def path_of(self, blob_id: str) -> str:
        if len(blob_id) != 32 or not all(c in "0123456789abcdef" for c in blob_id):
            raise ValueError("bad blob id")
        return os.path.join(self.root, blob_id[:2], blob_id)

    @staticmethod
    def fsync_dir(path: str) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def writer(self, hashers: Iterable[Hasher] = (), transform: Transform | None = None) -> BlobWriter:
        return BlobWriter(self, hashers, transform)

    def _read_sync(self, blob_id: str, offset: int, length: int) -> bytes:
        with open(self.path_of(blob_id), "rb", buffering=0) as f:
            return os.pread(f.fileno(), length, offset)

    async def stream(self, blob_id: str, offset: int, length: int,
                     chunk: int = READ_CHUNK) -> AsyncIterator[bytes]:
        """Yields `length` bytes from `offset`, one read ahead so disk and network overlap."""
        if length <= chunk:  # one hop to the I/O pool for small reads
            data = await self.pool.run(self._read_sync, blob_id, offset, length)
            if len(data) != length:
                raise OSError(f"blob {blob_id} is shorter than its metadata says")
            yield data
            return
        fd = await self.pool.run(os.open, self.path_of(blob_id), os.O_RDONLY)
        try:
            async for data in self.stream_fd(fd, offset, length, chunk):
                yield data
        finally:
            os.close(fd)

    def _open_all_sync(self, blob_ids: list[str]) -> list[int]:
        fds: list[int] = []
        try:
            for b in blob_ids:
                fds.append(os.open(self.path_of(b), os.O_RDONLY))
        except BaseException:
            self.close_all(fds)
            raise
        return fds

    async def open_all(self, blob_ids: list[str]) -> list[int]:
        """Opens blobs for reading. An open descriptor keeps a blob's data readable even if a concurrent
        overwrite unlinks the file, so a response that has started can always finish. Raises
        FileNotFoundError when a blob was already removed (the caller re-reads the metadata)."""
        return await self.pool.run(self._open_all_sync, blob_ids)

    @staticmethod
    def close_all(fds: list[int]) -> None:
        for fd in fds:
            os.close(fd)

    async def stream_fd(self, fd: int, offset: int, length: int,
                        chunk: int = READ_CHUNK) -> AsyncIterator[bytes]:
        """Yields `length` bytes from an open blob, one read ahead so disk and network overlap."""
        end = offset + length
        pos = offset
        nxt: asyncio.Future[bytes] | None = None
        if pos < end:
            nxt = self.pool.run(os.pread, fd, min(chunk, end - pos), pos)
        try:
            while nxt is not None:
                data = await nxt
                nxt = None
                if not data:
                    raise OSError("blob is shorter than its metadata says")
                pos += len(data)
                if pos < end:
                    nxt = self.pool.run(os.pread, fd, min(chunk, end - pos), pos)
                yield data
        finally:
            if nxt is not None:
                try:
                    await nxt
                except OSError:
                    pass

    def _delete_sync(self, blob_ids: list[str]) -> None:
        for b in blob_ids:
            try:
                os.unlink(self.path_of(b))
            except FileNotFoundError:
                pass

    async def delete(self, blob_ids: Iterable[str]) -> None:
        ids = list(blob_ids)
        if ids:
            await self.pool.run(self._delete_sync, ids)

    def collect_garbage(self, referenced: set[str]) -> int:
        """Removes `.tmp` leftovers and blobs no metadata references. Run before serving requests."""
        removed = 0
        for d in os.listdir(self.root):
            dpath = os.path.join(self.root, d)
            for name in os.listdir(dpath):
                if name.endswith(".tmp") or name not in referenced:
                    os.unlink(os.path.join(dpath, name))
                    removed += 1
        return removed

    def close(self) -> None:
        self.pool.shutdown()
