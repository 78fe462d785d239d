"""SQLite access without blocking the event loop.

All writes go through one writer thread that groups whatever is queued into a single transaction and one
fsync (group commit), each request in its own SAVEPOINT so one failure does not abort its neighbours.
Reads run on a small pool of threads, each with its own connection (WAL readers never block the writer).
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from typing import Any, Callable, TypeVar

from ...aio.pool import ThreadPool, resolve_future

T = TypeVar("T")

_STOP = object()
MAX_BATCH = 512


def connect(path: str, *, readonly: bool = False, synchronous: str = "FULL") -> sqlite3.Connection:
    """`synchronous=FULL` (default): a commit survives power loss. `NORMAL` (WAL): it survives the process's
    death (kill -9) but the last commits may be lost with the machine's power; no fsync per commit."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA busy_timeout=30000")
    if not readonly:
        _retry_locked(lambda: conn.execute("PRAGMA journal_mode=WAL"))
        conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA cache_size=-8192")  # 8 MiB per connection: bounded RSS; the OS caches the rest
    return conn


def _retry_locked(fn: Callable[[], Any], attempts: int = 100) -> Any:
    """Switching to WAL needs a moment of exclusive access; regions opening global.db together race for it
    (busy_timeout does not cover this pragma), so retry briefly."""
    for i in range(attempts):
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or i == attempts - 1:
                raise
            time.sleep(0.05)
    return None


class SqliteEngine:
    def __init__(self, path: str, schema: str, readers: int = 4, synchronous: str = "FULL") -> None:
        self.path = path
        self._writer_conn = connect(path, synchronous=synchronous)
        _retry_locked(lambda: self._writer_conn.executescript(schema))
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._local = threading.local()
        self._read_pool = ThreadPool(readers, "sqlite-read")
        self._reader_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._writer_loop, name="sqlite-writer", daemon=True)
        self._thread.start()

    # ---- writes -------------------------------------------------------------------------------------------
    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, fut, loop))
        return await fut


    def _writer_loop(self) -> None:
        conn = self._writer_conn
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    self._queue.put(_STOP)
                    break
                batch.append(nxt)
            outcomes: list[tuple[Any, Any, BaseException | None]] = []
            try:
                conn.execute("BEGIN IMMEDIATE")
                for fn, fut, loop in batch:
                    conn.execute("SAVEPOINT op")
                    try:
                        result = fn(conn)
                        conn.execute("RELEASE op")
                        outcomes.append((result, None, None))
                    except BaseException as exc:  # noqa: BLE001 - delivered to the caller
                        conn.execute("ROLLBACK TO op")
                        conn.execute("RELEASE op")
                        outcomes.append((None, exc, None))
                conn.execute("COMMIT")
            except BaseException as exc:  # noqa: BLE001 - commit failed: nobody's write is durable
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                outcomes = [(None, exc, None) for _ in batch]
            for (fn, fut, loop), (result, exc, _) in zip(batch, outcomes):
                loop.call_soon_threadsafe(resolve_future, fut, result, exc)

    # ---- reads --------------------------------------------------------------------------------------------
    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, readonly=True)
            self._local.conn = conn
            with self._lock:
                self._reader_conns.append(conn)
        return conn

    def _run_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return fn(self._reader())

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._read_pool.run(self._run_read, fn)

    def read_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self._read_pool.run_sync(self._run_read, fn)

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=10)
        self._read_pool.shutdown()
        with self._lock:
            for c in self._reader_conns:
                c.close()
        self._writer_conn.close()
