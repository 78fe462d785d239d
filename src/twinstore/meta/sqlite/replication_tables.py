"""SQLite side of replication: the outbox (operations owed to destinations), permanent failures, backfill jobs.

Outbox rows are inserted by the same transaction that commits their source version (`insert_outbox` is called
from inside `put_version`/`complete_upload`/`update_version`), so an acknowledged write can never lose its
replication. A finished operation deletes its row and records the outcome on the source version in one
transaction.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from typing import Any, Iterable

from ..model import BlobSegment, ObjectVersion, OutboxItem, ReplicationFailure
from .engine import SqliteEngine

_OUT_COLS = ("seq, bucket_id, key, vid, op, dest_bucket, rule_id, size, created_us, attempts, next_try_us, "
             "last_error, source, rtc")
REPLICA = "REPLICA"


def combined_status(dests: dict[str, str]) -> str:
    """AWS's status over several destinations: FAILED if any failed, PENDING while any is owed, else COMPLETED."""
    values = set(dests.values())
    if "FAILED" in values:
        return "FAILED"
    if "PENDING" in values:
        return "PENDING"
    return "COMPLETED"


def _item(r: tuple[Any, ...]) -> OutboxItem:
    return OutboxItem(seq=r[0], bucket_id=r[1], key=r[2].decode("utf-8"), vid=r[3], op=r[4], dest_bucket=r[5],
                      rule_id=r[6], size=r[7], created_us=r[8], attempts=r[9], next_try_us=r[10], last_error=r[11],
                      source=r[12], rtc=bool(r[13]))


class OutboxWriter:
    """Assigns outbox sequence numbers; only ever used on the single writer thread."""

    def __init__(self, start: int) -> None:
        self._seq = itertools.count(start + 1)

    def insert(self, c: sqlite3.Connection, items: Iterable[OutboxItem]) -> None:
        rows = []
        for it in items:
            it.seq = next(self._seq)
            rows.append((it.seq, it.bucket_id, it.key.encode("utf-8"), it.vid, it.op, it.dest_bucket, it.rule_id,
                         it.size, it.created_us, it.attempts, it.next_try_us, it.last_error, it.source,
                         int(it.rtc)))
        if rows:
            c.executemany(f"INSERT INTO repl_outbox({_OUT_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)


def _set_dest_status(c: sqlite3.Connection, bucket_id: int, key: bytes, vid: str, dest: str, status: str) -> None:
    row = c.execute("SELECT extra FROM versions WHERE bucket_id=? AND key=? AND vid=?", (bucket_id, key, vid)).fetchone()
    if not row:
        return
    extra = json.loads(row[0])
    rep = extra.get("replication")
    if not rep or rep.get("status") == REPLICA or "src" in rep:  # a replica (sent onward by backfill) stays one
        return
    rep.setdefault("dests", {})[dest] = status
    rep["status"] = combined_status(rep["dests"])
    c.execute("UPDATE versions SET extra=? WHERE bucket_id=? AND key=? AND vid=?",
              (json.dumps(extra), bucket_id, key, vid))


def _set_replica_sync(c: sqlite3.Connection, bucket_id: int, key: bytes, vid: str, ok: bool) -> None:
    """A replica's metadata change reached its source (REPLICA again) or could not (FAILED)."""
    row = c.execute("SELECT extra FROM versions WHERE bucket_id=? AND key=? AND vid=?", (bucket_id, key, vid)).fetchone()
    if not row:
        return
    extra = json.loads(row[0])
    rep = extra.get("replication")
    if not rep or "src" not in rep:
        return
    rep["status"] = REPLICA if ok else "FAILED"
    c.execute("UPDATE versions SET extra=? WHERE bucket_id=? AND key=? AND vid=?",
              (json.dumps(extra), bucket_id, key, vid))


class ReplicationTables:
    """Mixed into SqliteRegionStore: the replication half of the `RegionStore` protocol."""

    db: SqliteEngine
    outbox: OutboxWriter

    def _init_outbox(self) -> None:
        top = self.db.read_sync(lambda c: c.execute("SELECT MAX(seq) FROM repl_outbox").fetchone()[0])
        self.outbox = OutboxWriter(int(top or 0))

    async def pending_replication(self, limit: int, after_seq: int = 0) -> list[OutboxItem]:
        """Outbox items in sequence order (the workers' queue)."""
        return await self.db.read(lambda c: [_item(r) for r in c.execute(
            f"SELECT {_OUT_COLS} FROM repl_outbox WHERE seq>? ORDER BY seq LIMIT ?", (after_seq, limit))])

    async def finish_replication(self, item: OutboxItem, ok: bool, reason: str = "",
                                 now_us: int = 0) -> None:
        """Removes the item and records COMPLETED (or FAILED with `reason`) on its source version, atomically."""
        kb = item.key.encode("utf-8")

        def op(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM repl_outbox WHERE seq=?", (item.seq,))
            if not ok:
                c.execute("INSERT OR REPLACE INTO repl_failures(bucket_id, key, vid, op, dest_bucket, rule_id, size, "
                          "reason, failed_us) VALUES (?,?,?,?,?,?,?,?,?)",
                          (item.bucket_id, kb, item.vid, item.op, item.dest_bucket, item.rule_id, item.size, reason,
                           now_us))
            elif item.source == "backfill":
                c.execute("DELETE FROM repl_failures WHERE bucket_id=? AND key=? AND vid=? AND dest_bucket=? "
                          "AND op=?", (item.bucket_id, kb, item.vid, item.dest_bucket, item.op))
            if item.op in ("put", "delete"):
                _set_dest_status(c, item.bucket_id, kb, item.vid, item.dest_bucket, "COMPLETED" if ok else "FAILED")
            elif item.op == "tags":
                _set_replica_sync(c, item.bucket_id, kb, item.vid, ok)
        await self.db.write(op)

    async def defer_replication(self, item: OutboxItem) -> None:
        """Records a transient failure: the item stays owed and is retried at `item.next_try_us`."""
        await self.db.write(lambda c: c.execute(
            "UPDATE repl_outbox SET attempts=?, next_try_us=?, last_error=? WHERE seq=?",
            (item.attempts, item.next_try_us, item.last_error[:500], item.seq)))

    async def replication_stats(self, now_us: int) -> dict[str, list[tuple[Any, ...]]]:
        """Pending (count, bytes, oldest, max attempts, rtc) and failed (count, bytes) per bucket, rule,
        destination; and RTC operations pending past the 15-minute threshold."""
        def op(c: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
            return {
                "pending": c.execute(
                    "SELECT bucket_id, rule_id, dest_bucket, COUNT(*), SUM(size), MIN(created_us), MAX(attempts), "
                    "SUM(rtc) FROM repl_outbox GROUP BY bucket_id, rule_id, dest_bucket").fetchall(),
                "failed": c.execute(
                    "SELECT bucket_id, rule_id, dest_bucket, COUNT(*), SUM(size) FROM repl_failures "
                    "GROUP BY bucket_id, rule_id, dest_bucket").fetchall(),
                "rtc_overdue": c.execute(
                    "SELECT bucket_id, rule_id, dest_bucket, COUNT(*) FROM repl_outbox WHERE rtc=1 AND created_us<? "
                    "GROUP BY bucket_id, rule_id, dest_bucket", (now_us - 15 * 60 * 1_000_000,)).fetchall(),
            }
        return await self.db.read(op)

    async def replication_failures(self, bucket_id: int, limit: int = 100) -> list[ReplicationFailure]:
        return await self.db.read(lambda c: [ReplicationFailure(r[0], r[1].decode("utf-8"), *r[2:]) for r in c.execute(
            "SELECT bucket_id, key, vid, op, dest_bucket, rule_id, size, reason, failed_us FROM repl_failures "
            "WHERE bucket_id=? ORDER BY failed_us DESC LIMIT ?", (bucket_id, limit))])

    # ---- replicas (destination side) ----------------------------------------------------------------------
    async def put_replica(self, version: ObjectVersion) -> tuple[bool, list[BlobSegment]]:
        """Inserts a replicated version under its original id; a second delivery of it changes nothing.

        Returns (inserted, freed segments). The current version is the greatest id (meta/ids.py)."""
        from .region_store import _insert_version
        kb = version.key.encode("utf-8")

        def op(c: sqlite3.Connection) -> tuple[bool, list[BlobSegment]]:
            if c.execute("SELECT 1 FROM versions WHERE bucket_id=? AND key=? AND vid=?",
                         (version.bucket_id, kb, version.vid)).fetchone():
                return False, []
            version.null_version = False
            return True, _insert_version(c, version, "Enabled")
        return await self.db.write(op)

    async def put_replicas(self, versions: list[ObjectVersion]) -> list[bool]:
        """`put_replica` for a batch of inline replicas and delete markers, in one transaction."""
        from .region_store import _insert_version

        def op(c: sqlite3.Connection) -> list[bool]:
            out = []
            for v in versions:
                if c.execute("SELECT 1 FROM versions WHERE bucket_id=? AND key=? AND vid=?",
                             (v.bucket_id, v.key.encode("utf-8"), v.vid)).fetchone():
                    out.append(False)
                    continue
                v.null_version = False
                _insert_version(c, v, "Enabled")  # inline data and markers free nothing
                out.append(True)
            return out
        return await self.db.write(op)

    async def replicate_tags(self, bucket_id: int, key: str, vid: str, tags: dict[str, str]) -> bool:
        """Applies a replicated tag change to one version; False when the version is not here."""
        def op(c: sqlite3.Connection) -> bool:
            cur = c.execute("UPDATE versions SET tags=? WHERE bucket_id=? AND key=? AND vid=? AND delete_marker=0",
                            (json.dumps(tags), bucket_id, key.encode("utf-8"), vid))
            return cur.rowcount > 0
        return await self.db.write(op)

    # ---- backfill -----------------------------------------------------------------------------------------
    async def scan_versions(self, bucket_id: int, after_key: str | None, after_vid: str | None,
                            limit: int) -> list[ObjectVersion]:
        """Full versions in (key, vid) order after a cursor (for backfill jobs)."""
        from .region_store import _V_COLS, _row_to_version

        def op(c: sqlite3.Connection) -> list[ObjectVersion]:
            if after_key is None:
                rows = c.execute(f"SELECT {_V_COLS} FROM versions WHERE bucket_id=? ORDER BY key, vid LIMIT ?",
                                 (bucket_id, limit))
            else:
                kb = after_key.encode("utf-8")
                rows = c.execute(f"SELECT {_V_COLS} FROM versions WHERE bucket_id=? AND (key>? OR (key=? AND vid>?)) "
                                 "ORDER BY key, vid LIMIT ?", (bucket_id, kb, kb, after_vid or "", limit))
            return [_row_to_version(r) for r in rows]
        return await self.db.read(op)

    async def save_job(self, job: dict[str, Any], versions: list[ObjectVersion] = (),  # type: ignore[assignment]
                       items: list[OutboxItem] = ()) -> None:  # type: ignore[assignment]
        """Stores a backfill job's progress together with what this step queued (so a restart resumes exactly)."""
        def op(c: sqlite3.Connection) -> None:
            for v in versions:
                c.execute("UPDATE versions SET extra=? WHERE bucket_id=? AND key=? AND vid=?",
                          (json.dumps(v.extra), v.bucket_id, v.key.encode("utf-8"), v.vid))
            self.outbox.insert(c, items)
            ck = job.get("cursor_key")
            c.execute("INSERT OR REPLACE INTO repl_jobs(job_id, bucket_id, spec, state, cursor_key, cursor_vid, "
                      "scanned, queued, total, created_us, updated_us) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                      (job["job_id"], job["bucket_id"], json.dumps(job["spec"]), job["state"],
                       ck.encode("utf-8") if ck is not None else None, job.get("cursor_vid"), job["scanned"],
                       job["queued"], job["total"], job["created_us"], job["updated_us"]))
        await self.db.write(op)

    async def list_jobs(self) -> list[dict[str, Any]]:
        def op(c: sqlite3.Connection) -> list[dict[str, Any]]:
            out = []
            for r in c.execute("SELECT job_id, bucket_id, spec, state, cursor_key, cursor_vid, scanned, queued, total, "
                               "created_us, updated_us FROM repl_jobs ORDER BY created_us"):
                out.append({"job_id": r[0], "bucket_id": r[1], "spec": json.loads(r[2]), "state": r[3],
                            "cursor_key": r[4].decode("utf-8") if r[4] is not None else None, "cursor_vid": r[5],
                            "scanned": r[6], "queued": r[7], "total": r[8], "created_us": r[9], "updated_us": r[10]})
            return out
        return await self.db.read(op)

    async def count_versions(self, bucket_id: int) -> int:
        return await self.db.read(lambda c: int(c.execute("SELECT COUNT(*) FROM versions WHERE bucket_id=?",
                                                          (bucket_id,)).fetchone()[0]))
