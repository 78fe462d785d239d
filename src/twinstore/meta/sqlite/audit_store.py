"""SQLite implementation of the audit store (audit/store.py): a region's trails, its durable outbox of records
waiting for delivery, and the management-event history LookupEvents reads. One file, `audit.db`, so audit
commits never queue behind object metadata commits."""

from __future__ import annotations

import sqlite3
import zlib
from typing import Any

from .engine import SqliteEngine

AUDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS trails (
    name TEXT PRIMARY KEY,
    config TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dest TEXT NOT NULL,
    count INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    dest TEXT PRIMARY KEY,
    last_id INTEGER NOT NULL,
    name TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_dest ON outbox(dest, id);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time_us INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    event_name TEXT NOT NULL,
    event_source TEXT NOT NULL,
    username TEXT NOT NULL,
    access_key TEXT NOT NULL,
    read_only TEXT NOT NULL,
    resources TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_time ON history(time_us);
"""

HistoryRow = tuple[int, str, str, str, str, str, str, str, str]  # time_us .. body, as the columns
_HISTORY_COLS = "time_us, event_id, event_name, event_source, username, access_key, read_only, resources, body"
_LOOKUP_COLUMN = {"EventId": "event_id", "EventName": "event_name", "EventSource": "event_source",
                  "Username": "username", "AccessKeyId": "access_key", "ReadOnly": "read_only"}


def _pack(records: list[tuple[int, str]]) -> bytes:
    return zlib.compress("\n".join(f"{t}\t{body}" for t, body in records).encode(), 1)


def _unpack(blob: bytes) -> list[tuple[int, str]]:
    out = []
    for line in zlib.decompress(blob).decode().split("\n"):
        t, _, body = line.partition("\t")
        out.append((int(t), body))
    return out


class SqliteAuditStore:
    def __init__(self, path: str) -> None:
        # WAL + synchronous=NORMAL: a commit survives kill -9 of the region without an fsync per commit, which
        # would compete with the object metadata's group commits on the request path
        self.db = SqliteEngine(path, AUDIT_SCHEMA, readers=2, synchronous="NORMAL")

    # ---- trails -------------------------------------------------------------------------------------------
    async def save_trail(self, name: str, config: str) -> None:
        await self.db.write(lambda c: c.execute(
            "INSERT INTO trails(name, config) VALUES (?,?) ON CONFLICT(name) DO UPDATE SET config=excluded.config",
            (name, config)))

    async def delete_trail(self, name: str) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM trails WHERE name=?", (name,))
            for dest in ("s3:" + name, "cwl:" + name):
                c.execute("DELETE FROM outbox WHERE dest=?", (dest,))
                c.execute("DELETE FROM batches WHERE dest=?", (dest,))
        await self.db.write(op)

    async def load_trails(self) -> dict[str, str]:
        return await self.db.read(lambda c: dict(c.execute("SELECT name, config FROM trails")))

    # ---- outbox and history -------------------------------------------------------------------------------
    async def append(self, outbox: list[tuple[str, list[tuple[int, str]]]], history: list[HistoryRow]) -> None:
        """Makes records durable: for each destination, its (time_us, body) records of this flush become one row
        (zlib-compressed lines), so the disk sees a few hundred bytes per record instead of kilobytes."""
        def op(c: sqlite3.Connection) -> None:
            if outbox:
                c.executemany("INSERT INTO outbox(dest, count, body) VALUES (?,?,?)",
                              [(dest, len(recs), _pack(recs)) for dest, recs in outbox])
            if history:
                c.executemany(f"INSERT INTO history({_HISTORY_COLS}) VALUES (?,?,?,?,?,?,?,?,?)", history)
        await self.db.write(op)

    async def destinations(self) -> list[str]:
        return await self.db.read(lambda c: [r[0] for r in c.execute("SELECT DISTINCT dest FROM outbox")])

    async def pending(self, dest: str, limit: int) -> list[tuple[int, int, str | None, str]]:
        """(row id, time_us, batch name, body) per record: a started batch (a delivery a crash or failure
        interrupted) again, else the destination's oldest rows holding about `limit` records."""
        def op(c: sqlite3.Connection) -> list[tuple[int, int, str | None, str]]:
            row = c.execute("SELECT last_id, name FROM batches WHERE dest=?", (dest,)).fetchone()
            if row:
                rows = c.execute("SELECT id, body FROM outbox WHERE dest=? AND id<=? ORDER BY id",
                                 (dest, row[0])).fetchall()
                name = row[1]
            else:
                rows, total, name = [], 0, None
                for rid, count, body in c.execute("SELECT id, count, body FROM outbox WHERE dest=? ORDER BY id",
                                                  (dest,)):
                    rows.append((rid, body))
                    total += count
                    if total >= limit:
                        break
            return [(rid, t, name, b) for rid, body in rows for t, b in _unpack(body)]
        return await self.db.read(op)

    async def start_batch(self, dest: str, last_id: int, batch: str) -> None:
        """Names a delivery before it is attempted, so a retry after a crash rewrites the same object. A batch is
        always a destination's oldest rows (ids only grow): every row of `dest` up to `last_id`."""
        await self.db.write(lambda c: c.execute(
            "INSERT INTO batches(dest, last_id, name) VALUES (?,?,?)", (dest, last_id, batch)))

    async def delivered(self, dest: str, last_id: int) -> None:
        """Removes the rows of `dest` up to `last_id` (the oldest ones, just delivered) and their batch."""
        def op(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM outbox WHERE dest=? AND id<=?", (dest, last_id))
            c.execute("DELETE FROM batches WHERE dest=?", (dest,))
        await self.db.write(op)

    async def outbox_size(self) -> int:
        """Records waiting for delivery."""
        return await self.db.read(lambda c: int(c.execute("SELECT COALESCE(SUM(count), 0) FROM outbox").fetchone()[0]))

    async def lookup(self, attribute: tuple[str, str] | None, start_us: int, end_us: int, before_seq: int | None,
                     limit: int) -> list[tuple[int, str]]:
        """(seq, body) of management events in [start, end], newest first."""
        def op(c: sqlite3.Connection) -> list[tuple[int, str]]:
            sql = "SELECT seq, body FROM history WHERE time_us >= ? AND time_us <= ?"
            args: list[Any] = [start_us, end_us]
            if before_seq is not None:
                sql += " AND seq < ?"
                args.append(before_seq)
            if attribute is not None:
                k, v = attribute
                if k in ("ResourceName", "ResourceType"):
                    sql += " AND resources LIKE ? ESCAPE '\\'"
                    esc = v.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                    args.append(f'%"{esc}"%')
                else:
                    sql += f" AND {_LOOKUP_COLUMN[k]} = ?"
                    args.append(v)
            sql += " ORDER BY seq DESC LIMIT ?"
            args.append(limit)
            return c.execute(sql, args).fetchall()
        return await self.db.read(op)

    async def prune_history(self, before_us: int) -> None:
        await self.db.write(lambda c: c.execute("DELETE FROM history WHERE time_us < ?", (before_us,)))

    async def close(self) -> None:
        self.db.close()
