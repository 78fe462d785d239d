"""SQLite implementation of LogBackend: `regions/<name>/logs.db`.

Each PutLogEvents batch is one chunk row: its timestamps and messages (marshal + zlib) and, for JSON events,
one compressed column per discovered field (in `chunk_cols`, or inline in the chunk when the batch is small).
A query reads only the columns it names; @message is read only when a command needs it or for the rows
returned. Writes go through the engine's single writer thread (group commit, synchronous=FULL).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import marshal
import multiprocessing
import os
import sqlite3
import zlib
from bisect import bisect_left
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from ..meta.sqlite.engine import SqliteEngine
from .flatten import columns
from .model import EVENT_ID_SHIFT, LogEvent, LogGroup, LogStream
from .query.source import ChunkRef

log = logging.getLogger("twinstore.logs")

SCHEMA = """
CREATE TABLE IF NOT EXISTS groups (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_ms INTEGER NOT NULL, retention_days INTEGER,
  class TEXT NOT NULL DEFAULT 'STANDARD', kms_key_id TEXT, tags TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS streams (
  id INTEGER PRIMARY KEY, group_id INTEGER NOT NULL, name TEXT NOT NULL, created_ms INTEGER NOT NULL,
  first_ts INTEGER, last_ts INTEGER, last_ingest INTEGER, stored_bytes INTEGER NOT NULL DEFAULT 0,
  UNIQUE (group_id, name)
);
CREATE TABLE IF NOT EXISTS chunks (
  id INTEGER PRIMARY KEY, group_id INTEGER NOT NULL, stream_id INTEGER NOT NULL, min_ts INTEGER NOT NULL,
  max_ts INTEGER NOT NULL, n INTEGER NOT NULL, ingest_ms INTEGER NOT NULL, nbytes INTEGER NOT NULL,
  ts BLOB NOT NULL, messages BLOB NOT NULL, cols BLOB
);
CREATE INDEX IF NOT EXISTS chunks_group_time ON chunks (group_id, max_ts);
CREATE INDEX IF NOT EXISTS chunks_stream_time ON chunks (stream_id, min_ts);
CREATE TABLE IF NOT EXISTS chunk_cols (
  chunk_id INTEGER NOT NULL, path TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (chunk_id, path)
);
"""

INLINE_COLS_BELOW = 64  # batches smaller than this keep all their columns in the chunk row
PROCESS_BATCH_MIN = 256  # batches at least this large are encoded in a helper process
_G_COLS = "id, name, created_ms, retention_days, class, kms_key_id, tags"


def utf8_size(msgs: list[str]) -> int:
    return sum(len(m) if m.isascii() else len(m.encode("utf-8", "surrogatepass")) for m in msgs)


def _pack(obj: Any) -> bytes:
    return zlib.compress(marshal.dumps(obj), 1)


def _unpack(blob: bytes) -> Any:
    return marshal.loads(zlib.decompress(blob))


@dataclass(slots=True)
class PreparedChunk:
    ts: list[int]
    nbytes: int
    ts_blob: bytes
    msg_blob: bytes
    packed: dict[str, bytes] | None  # one blob per column (large batches)
    inline: bytes | None             # all columns in one blob (small batches)


def prepare_chunk(events: list[tuple[int, str]]) -> PreparedChunk:
    """Encodes a chronological batch: discovered-field columns, timestamps and messages, compressed."""
    ts = [t for t, _ in events]
    msgs = [m for _, m in events]
    cols = columns(msgs)
    big = len(events) >= INLINE_COLS_BELOW
    return PreparedChunk(ts, utf8_size(msgs), _pack(ts), _pack(msgs),
                         {k: _pack(v) for k, v in cols.items()} if big else None,
                         _pack(cols) if cols and not big else None)


def _exit_with_parent(parent: int) -> None:
    """In an encoding process: leave when the region process is gone (even after kill -9, which closes no
    pipe this process would notice)."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def default_encoders() -> int:
    """Helper processes for batch encoding: TWINSTORE_LOGS_ENCODERS, else one on machines with 4+ cores.
    A helper costs ~15% more CPU per event (pickling) for parallelism, a loss on a small busy machine."""
    env = os.environ.get("TWINSTORE_LOGS_ENCODERS")
    if env is not None and env.isdigit():
        return int(env)
    return 1 if (os.cpu_count() or 1) >= 4 else 0


def _group(r: tuple[Any, ...], stored: int = 0) -> LogGroup:
    return LogGroup(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), stored)


class SqliteLogBackend:
    def __init__(self, path: str, encoder_processes: int | None = None) -> None:
        self.engine = SqliteEngine(path, SCHEMA, readers=2)
        n = default_encoders() if encoder_processes is None else encoder_processes
        self._procs: ProcessPoolExecutor | None = ProcessPoolExecutor(
            n, mp_context=multiprocessing.get_context("spawn"), initializer=_exit_with_parent,
            initargs=(os.getpid(),)) if n > 0 else None

    # ---- groups ------------------------------------------------------------------------------------------
    async def create_group(self, group: LogGroup) -> bool:
        def fn(c: sqlite3.Connection) -> bool:
            try:
                c.execute("INSERT INTO groups (name, created_ms, retention_days, class, kms_key_id, tags) "
                          "VALUES (?, ?, ?, ?, ?, ?)", (group.name, group.created_ms, group.retention_days,
                                                        group.log_group_class, group.kms_key_id,
                                                        json.dumps(group.tags)))
            except sqlite3.IntegrityError:
                return False
            return True
        return await self.engine.write(fn)

    async def get_group(self, name: str) -> LogGroup | None:
        def fn(c: sqlite3.Connection) -> LogGroup | None:
            r = c.execute(f"SELECT {_G_COLS} FROM groups WHERE name = ?", (name,)).fetchone()
            return _group(r, self._stored(c, r[0])) if r else None
        return await self.engine.read(fn)

    @staticmethod
    def _stored(c: sqlite3.Connection, group_id: int) -> int:
        return int(c.execute("SELECT coalesce(sum(stored_bytes), 0) FROM streams WHERE group_id = ?",
                             (group_id,)).fetchone()[0])

    async def list_groups(self, prefix: str, after: str, limit: int) -> list[LogGroup]:
        def fn(c: sqlite3.Connection) -> list[LogGroup]:
            rows = c.execute(f"SELECT {_G_COLS} FROM groups WHERE name > ? AND substr(name, 1, ?) = ? "
                             "ORDER BY name LIMIT ?", (after, len(prefix), prefix, limit)).fetchall()
            return [_group(r, self._stored(c, r[0])) for r in rows]
        return await self.engine.read(fn)

    async def delete_group(self, name: str) -> bool:
        def fn(c: sqlite3.Connection) -> bool:
            r = c.execute("SELECT id FROM groups WHERE name = ?", (name,)).fetchone()
            if r is None:
                return False
            gid = r[0]
            c.execute("DELETE FROM chunk_cols WHERE chunk_id IN (SELECT id FROM chunks WHERE group_id = ?)", (gid,))
            c.execute("DELETE FROM chunks WHERE group_id = ?", (gid,))
            c.execute("DELETE FROM streams WHERE group_id = ?", (gid,))
            c.execute("DELETE FROM groups WHERE id = ?", (gid,))
            return True
        return await self.engine.write(fn)

    async def set_retention(self, name: str, days: int | None) -> bool:
        def fn(c: sqlite3.Connection) -> bool:
            return c.execute("UPDATE groups SET retention_days = ? WHERE name = ?", (days, name)).rowcount > 0
        return await self.engine.write(fn)

    async def set_tags(self, name: str, tags: dict[str, str]) -> bool:
        def fn(c: sqlite3.Connection) -> bool:
            return c.execute("UPDATE groups SET tags = ? WHERE name = ?", (json.dumps(tags), name)).rowcount > 0
        return await self.engine.write(fn)

    # ---- streams -----------------------------------------------------------------------------------------
    async def create_stream(self, group_id: int, name: str, created_ms: int) -> bool:
        def fn(c: sqlite3.Connection) -> bool:
            try:
                c.execute("INSERT INTO streams (group_id, name, created_ms) VALUES (?, ?, ?)",
                          (group_id, name, created_ms))
            except sqlite3.IntegrityError:
                return False
            return True
        return await self.engine.write(fn)

    async def delete_stream(self, group_id: int, name: str) -> bool:
        def fn(c: sqlite3.Connection) -> bool:
            r = c.execute("SELECT id FROM streams WHERE group_id = ? AND name = ?", (group_id, name)).fetchone()
            if r is None:
                return False
            c.execute("DELETE FROM chunk_cols WHERE chunk_id IN (SELECT id FROM chunks WHERE stream_id = ?)",
                      (r[0],))
            c.execute("DELETE FROM chunks WHERE stream_id = ?", (r[0],))
            c.execute("DELETE FROM streams WHERE id = ?", (r[0],))
            return True
        return await self.engine.write(fn)

    async def list_streams(self, group_id: int, prefix: str) -> list[LogStream]:
        def fn(c: sqlite3.Connection) -> list[LogStream]:
            rows = c.execute("SELECT id, group_id, name, created_ms, first_ts, last_ts, last_ingest, stored_bytes "
                             "FROM streams WHERE group_id = ? AND substr(name, 1, ?) = ? ORDER BY name",
                             (group_id, len(prefix), prefix)).fetchall()
            return [LogStream(*r) for r in rows]
        return await self.engine.read(fn)

    # ---- events ------------------------------------------------------------------------------------------
    async def prepare(self, events: list[tuple[int, str]]) -> PreparedChunk:
        """The CPU work of a batch (field discovery, encoding, compression), off the event loop: large batches
        in a helper process (a second core does it while this one serves requests), small ones in a thread."""
        loop = asyncio.get_running_loop()
        if len(events) >= PROCESS_BATCH_MIN and self._procs is not None:
            try:
                return await loop.run_in_executor(self._procs, prepare_chunk, events)
            except BrokenProcessPool:
                log.warning("log encoding process died; encoding in threads from now on")
                self._procs = None
        return await loop.run_in_executor(None, prepare_chunk, events)

    async def append(self, group_id: int, stream: str, chunk: PreparedChunk, ingest_ms: int,
                     create_stream: bool) -> bool:
        ts, nbytes, ts_blob, msg_blob, packed, inline = (chunk.ts, chunk.nbytes, chunk.ts_blob, chunk.msg_blob,
                                                         chunk.packed, chunk.inline)

        def fn(c: sqlite3.Connection) -> bool:
            r = c.execute("SELECT id FROM streams WHERE group_id = ? AND name = ?", (group_id, stream)).fetchone()
            if r is None:
                if not create_stream:
                    return False
                sid = c.execute("INSERT INTO streams (group_id, name, created_ms) VALUES (?, ?, ?)",
                                (group_id, stream, ingest_ms)).lastrowid
            else:
                sid = r[0]
            cur = c.execute("INSERT INTO chunks (group_id, stream_id, min_ts, max_ts, n, ingest_ms, nbytes, ts, "
                            "messages, cols) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (group_id, sid, ts[0], ts[-1], len(ts), ingest_ms, nbytes, ts_blob, msg_blob, inline))
            if packed:
                c.executemany("INSERT INTO chunk_cols (chunk_id, path, data) VALUES (?, ?, ?)",
                              [(cur.lastrowid, k, v) for k, v in packed.items()])
            c.execute("UPDATE streams SET first_ts = min(coalesce(first_ts, ?), ?), last_ts = max(coalesce(last_ts, "
                      "?), ?), last_ingest = ?, stored_bytes = stored_bytes + ? WHERE id = ?",
                      (ts[0], ts[0], ts[-1], ts[-1], ingest_ms, nbytes, sid))
            return True
        return await self.engine.write(fn)

    async def scan(self, group_id: int, stream_ids: list[int] | None, start: int, end: int, after: tuple[int, int],
                   forward: bool, limit: int, cutoff: int) -> list[LogEvent]:
        return await self.engine.read(lambda c: _scan(c, group_id, stream_ids, max(start, cutoff), end, after,
                                                       forward, limit))

    async def get_event(self, event_id: int) -> tuple[LogGroup, LogEvent] | None:
        def fn(c: sqlite3.Connection) -> tuple[LogGroup, LogEvent] | None:
            cid, idx = event_id >> EVENT_ID_SHIFT, event_id & ((1 << EVENT_ID_SHIFT) - 1)
            r = c.execute("SELECT c.group_id, s.name, c.ingest_ms, c.ts, c.messages, c.n FROM chunks c "
                          "JOIN streams s ON s.id = c.stream_id WHERE c.id = ?", (cid,)).fetchone()
            if r is None or idx >= r[5]:
                return None
            g = c.execute(f"SELECT {_G_COLS} FROM groups WHERE id = ?", (r[0],)).fetchone()
            return _group(g), LogEvent(event_id, r[1], _unpack(r[3])[idx], r[2], _unpack(r[4])[idx])
        return await self.engine.read(fn)

    async def delete_expired(self, now_ms: int) -> int:
        def fn(c: sqlite3.Connection) -> int:
            removed = 0
            for gid, days in c.execute("SELECT id, retention_days FROM groups WHERE retention_days IS NOT NULL")\
                    .fetchall():
                cutoff = now_ms - days * 86_400_000
                ids = [r[0] for r in c.execute("SELECT id FROM chunks WHERE group_id = ? AND max_ts < ?",
                                               (gid, cutoff))]
                for cid in ids:
                    row = c.execute("SELECT stream_id, nbytes FROM chunks WHERE id = ?", (cid,)).fetchone()
                    c.execute("UPDATE streams SET stored_bytes = max(0, stored_bytes - ?) WHERE id = ?",
                              (row[1], row[0]))
                    c.execute("DELETE FROM chunk_cols WHERE chunk_id = ?", (cid,))
                    c.execute("DELETE FROM chunks WHERE id = ?", (cid,))
                removed += len(ids)
            return removed
        return await self.engine.write(fn)

    def source(self, groups: list[LogGroup], start: int, end: int, now_ms: int, account_id: str) -> "SqliteSource":
        return SqliteSource(self.engine, groups, start, end, now_ms, account_id)

    async def close(self) -> None:
        if self._procs is not None:
            self._procs.shutdown(wait=False, cancel_futures=True)
        self.engine.close()


def _scan(c: sqlite3.Connection, group_id: int, stream_ids: list[int] | None, start: int, end: int,
          after: tuple[int, int], forward: bool, limit: int) -> list[LogEvent]:
    """Events of a group (optionally some streams) in [start, end), after/before `after`, time ordered.
    Chunks are visited in time order and the walk stops once no unread chunk can hold a better event."""
    where = "group_id = ? AND max_ts >= ? AND min_ts < ?"
    args: list[Any] = [group_id, start, end]
    if stream_ids is not None:
        if not stream_ids:
            return []
        where += f" AND stream_id IN ({','.join('?' * len(stream_ids))})"
        args += stream_ids
    if forward:
        where += " AND max_ts >= ?"
        args.append(after[0])
    else:
        where += " AND min_ts <= ?"
        args.append(after[0])
    order = "min_ts ASC" if forward else "max_ts DESC"
    names = dict(c.execute("SELECT id, name FROM streams WHERE group_id = ?", (group_id,)).fetchall())
    found: list[LogEvent] = []
    for cid, sid, min_ts, max_ts, ingest in c.execute(
            f"SELECT id, stream_id, min_ts, max_ts, ingest_ms FROM chunks WHERE {where} ORDER BY {order}",
            args).fetchall():
        if len(found) >= limit:
            bound = found[limit - 1].as_tuple()
            if (forward and min_ts > bound[0]) or (not forward and max_ts < bound[0]):
                break
        blobs = c.execute("SELECT ts, messages FROM chunks WHERE id = ?", (cid,)).fetchone()
        if blobs is None:
            continue
        ts_blob, msg_blob = blobs
        ts = _unpack(ts_blob)
        lo, hi = bisect_left(ts, start), bisect_left(ts, end)
        if lo >= hi:
            continue
        msgs = _unpack(msg_blob)
        base = cid << EVENT_ID_SHIFT
        for i in range(lo, hi):
            key = (ts[i], base | i)
            if (key > after) if forward else (key < after):
                found.append(LogEvent(base | i, names.get(sid, ""), ts[i], ingest, msgs[i]))
        found.sort(key=LogEvent.as_tuple, reverse=not forward)
        del found[limit * 2:]
    return found[:limit]


class SqliteSource:
    """EventSource over the chunks of some log groups, run on a worker thread with its own connection."""

    def __init__(self, engine: SqliteEngine, groups: list[LogGroup], start: int, end: int, now_ms: int,
                 account_id: str) -> None:
        self.engine = engine
        self.groups = {g.id: g for g in groups}
        self.start = start
        self.end = end  # exclusive
        self.now_ms = now_ms
        self.account_id = account_id
        self._streams: dict[int, str] = {}
        self._conn: sqlite3.Connection | None = None

    def _c(self) -> sqlite3.Connection:
        if self._conn is None:
            from ..meta.sqlite.engine import connect
            self._conn = connect(self.engine.path, readonly=True)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def chunks(self) -> list[ChunkRef]:
        c = self._c()
        out = []
        for gid, g in self.groups.items():
            lo = max(self.start, g.cutoff_ms(self.now_ms))
            for cid, sid, min_ts, max_ts, n, nbytes, inline in c.execute(
                    "SELECT id, stream_id, min_ts, max_ts, n, nbytes, cols IS NOT NULL FROM chunks "
                    "WHERE group_id = ? AND max_ts >= ? AND min_ts < ?", (gid, lo, self.end)):
                out.append(ChunkRef((cid, gid, sid, bool(inline), lo), min_ts, max_ts, n, nbytes))
            for sid, name in c.execute("SELECT id, name FROM streams WHERE group_id = ?", (gid,)):
                self._streams[sid] = name
        return out

    def columns(self, chunk: ChunkRef, fields: list[str], system: set[str],
                with_message: bool) -> tuple[dict[str, Any], int]:
        cid, gid, sid, inline, lo = chunk.key
        c = self._c()
        r = c.execute("SELECT ts, ingest_ms, cols, " + ("messages" if with_message else "NULL") +
                      " FROM chunks WHERE id = ?", (cid,)).fetchone()
        if r is None:  # expired and deleted since chunks() ran
            return {}, 0
        ts = _unpack(r[0])
        a, b = bisect_left(ts, lo), bisect_left(ts, self.end)
        if a >= b:
            return {}, 0
        if inline:
            all_cols = _unpack(r[2])
            found = {f: all_cols[f] for f in fields if f in all_cols}
        elif fields:
            marks = ",".join("?" * len(fields))
            found = {p: _unpack(d) for p, d in c.execute(
                f"SELECT path, data FROM chunk_cols WHERE chunk_id = ? AND path IN ({marks})", (cid, *fields))}
        else:
            found = {}
        n = b - a
        whole = a == 0 and b == len(ts)
        base = cid << EVENT_ID_SHIFT
        cols: dict[str, Any] = {"@timestamp": ts if whole else ts[a:b], "#id": range(base | a, base | b)}
        for name, col in found.items():
            cols[name] = col if whole else col[a:b]
        if with_message:
            msgs = _unpack(r[3])
            cols["@message"] = msgs if whole else msgs[a:b]
        if "@logStream" in system:
            cols["@logStream"] = [self._streams.get(sid, "")] * n
        if "@log" in system:
            cols["@log"] = [f"{self.account_id}:{self.groups[gid].name}"] * n
        if "@ingestionTime" in system:
            cols["@ingestionTime"] = [r[1]] * n
        return cols, n

    def messages(self, ids: list[int]) -> dict[int, str]:
        c = self._c()
        out: dict[int, str] = {}
        by_chunk: dict[int, list[int]] = {}
        for i in ids:
            by_chunk.setdefault(i >> EVENT_ID_SHIFT, []).append(i)
        for cid, members in by_chunk.items():
            r = c.execute("SELECT messages FROM chunks WHERE id = ?", (cid,)).fetchone()
            if r is None:
                continue
            msgs = _unpack(r[0])
            for i in members:
                out[i] = msgs[i & ((1 << EVENT_ID_SHIFT) - 1)]
        return out

    def ptr(self, event_id: int) -> str:
        return encode_ptr(event_id)


def encode_ptr(event_id: int) -> str:
    return base64.urlsafe_b64encode(b"tw1:" + str(event_id).encode()).decode().rstrip("=")


def decode_ptr(ptr: str) -> int | None:
    try:
        raw = base64.urlsafe_b64decode(ptr + "=" * (-len(ptr) % 4))
    except (ValueError, TypeError):
        return None
    if not raw.startswith(b"tw1:") or not raw[4:].isdigit():
        return None
    return int(raw[4:])

