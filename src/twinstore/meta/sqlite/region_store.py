"""SQLite implementation of `RegionStore`."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Callable

from ...protocol.errors import AWSError
from ..model import (VERSIONING_ENABLED, BlobSegment, Bucket, ListedObject, ListedVersion, ListPage, MultipartUpload,
                     ObjectsPage, ObjectVersion, OutboxItem, UploadPart)
from ..store import LatestCheck
from .engine import SqliteEngine
from .replication_tables import ReplicationTables
from .schema import REGION_MIGRATIONS, REGION_SCHEMA

_V_COLS = ("bucket_id, key, vid, null_version, is_latest, delete_marker, last_modified_us, size, etag, owner, "
           "storage_class, checksum, headers, user_meta, segments, part_sizes, tags, extra, inline_data, "
           "checksum_kind, encryption")
_LIST_COLS = "key, vid, null_version, is_latest, delete_marker, last_modified_us, size, etag, owner, " \
             "storage_class, checksum_kind"

_dumps = json.dumps
_loads = json.loads


def _kb(key: str) -> bytes:
    return key.encode("utf-8")


def _prefix_upper(prefix: bytes) -> bytes | None:
    """Smallest byte string greater than every string starting with `prefix` (None: unbounded)."""
    b = bytearray(prefix)
    while b:
        if b[-1] < 0xFF:
            b[-1] += 1
            return bytes(b)
        b.pop()
    return None


def _row_to_version(r: tuple[Any, ...]) -> ObjectVersion:
    return ObjectVersion(
        bucket_id=r[0], key=r[1].decode("utf-8"), vid=r[2], null_version=bool(r[3]), is_latest=bool(r[4]),
        delete_marker=bool(r[5]), last_modified_us=r[6], size=r[7], etag=r[8], owner=r[9], storage_class=r[10],
        checksum=_loads(r[11]), headers=_loads(r[12]), user_meta=_loads(r[13]),
        segments=[BlobSegment(b, s) for b, s in _loads(r[14])], part_sizes=_loads(r[15]), tags=_loads(r[16]),
        extra=_loads(r[17]), inline=r[18], encryption=_loads(r[20]) if r[20] else {})


def _checksum_kind(checksum: dict[str, str]) -> str:
    return f"{checksum['algorithm']}:{checksum.get('type', 'FULL_OBJECT')}" if checksum else ""


_kinds: dict[str, dict[str, str]] = {}


def _listing_checksum(kind: str) -> dict[str, str]:
    """The algorithm and type a listing shows; the few distinct kinds are parsed once and shared."""
    found = _kinds.get(kind)
    if found is None:
        algo, _, ctype = kind.partition(":")
        found = _kinds[kind] = {"algorithm": algo, "type": ctype} if kind else {}
    return found


def _list_row(r: tuple[Any, ...]) -> ListedVersion:
    return ListedVersion(r[0].decode("utf-8"), r[1], r[2] == 1, r[3] == 1, r[4] == 1, r[5], r[6], r[7], r[8], r[9],
                         _listing_checksum(r[10]))


def _version_values(v: ObjectVersion) -> tuple[Any, ...]:
    return (v.bucket_id, _kb(v.key), v.vid, int(v.null_version), int(v.is_latest), int(v.delete_marker),
            v.last_modified_us, v.size, v.etag, v.owner, v.storage_class, _dumps(v.checksum), _dumps(v.headers),
            _dumps(v.user_meta), _dumps([[s.blob_id, s.size] for s in v.segments]), _dumps(v.part_sizes),
            _dumps(v.tags), _dumps(v.extra), v.inline, _checksum_kind(v.checksum),
            _dumps(v.encryption) if v.encryption else "")


def _segments(raw: str) -> list[BlobSegment]:
    return [BlobSegment(b, s) for b, s in _loads(raw)]


def _bucket_from_row(r: tuple[Any, ...]) -> Bucket:
    return Bucket(id=r[0], name=r[1], region=r[2], owner=r[3], created_us=r[4], versioning=r[5],
                  object_ownership=r[6], configs=_loads(r[7]))


def _latest(conn: sqlite3.Connection, bucket_id: int, key: bytes) -> ObjectVersion | None:
    row = conn.execute(f"SELECT {_V_COLS} FROM versions WHERE bucket_id=? AND key=? AND is_latest=1",
                       (bucket_id, key)).fetchone()
    return _row_to_version(row) if row else None


def _insert_version(conn: sqlite3.Connection, v: ObjectVersion, versioning: str) -> list[BlobSegment]:
    """Inserts `v`, replacing the key's null version unless versioning is Enabled; fixes is_latest.

    Returns the blob segments no longer referenced (the replaced null version's data).
    """
    key = _kb(v.key)
    freed: list[BlobSegment] = []
    if v.null_version or versioning != VERSIONING_ENABLED:
        v.null_version = True
        for (seg,) in conn.execute("SELECT segments FROM versions WHERE bucket_id=? AND key=? AND null_version=1",
                                   (v.bucket_id, key)).fetchall():
            freed.extend(_segments(seg))
        conn.execute("DELETE FROM versions WHERE bucket_id=? AND key=? AND null_version=1", (v.bucket_id, key))
    v.is_latest = False
    conn.execute(f"INSERT INTO versions({_V_COLS}) VALUES ({','.join('?' * 21)})", _version_values(v))
    _fix_latest(conn, v.bucket_id, key)
    row = conn.execute("SELECT is_latest FROM versions WHERE bucket_id=? AND key=? AND vid=?",
                       (v.bucket_id, key, v.vid)).fetchone()
    v.is_latest = bool(row[0])
    return freed


def _fix_latest(conn: sqlite3.Connection, bucket_id: int, key: bytes) -> None:
    """THE ordering rule: the version with the greatest id is the current one."""
    top = conn.execute("SELECT vid FROM versions WHERE bucket_id=? AND key=? ORDER BY vid DESC LIMIT 1",
                       (bucket_id, key)).fetchone()
    conn.execute("UPDATE versions SET is_latest=0 WHERE bucket_id=? AND key=? AND is_latest=1", (bucket_id, key))
    if top:
        conn.execute("UPDATE versions SET is_latest=1 WHERE bucket_id=? AND key=? AND vid=?",
                     (bucket_id, key, top[0]))


class SqliteRegionStore(ReplicationTables):
    def __init__(self, path: str) -> None:
        self.db = SqliteEngine(path, REGION_SCHEMA)
        self.db.read_sync(_migrate)
        self._init_outbox()
        rows = self.db.read_sync(lambda c: c.execute(
            "SELECT id, name, region, owner, created_us, versioning, object_ownership, configs FROM buckets"
        ).fetchall())
        self._buckets: dict[str, Bucket] = {r[1]: _bucket_from_row(r) for r in rows}

    # ---- buckets ------------------------------------------------------------------------------------------
    async def create_bucket(self, bucket: Bucket) -> Bucket:
        def op(c: sqlite3.Connection) -> int:
            cur = c.execute(
                "INSERT INTO buckets(name, region, owner, created_us, versioning, object_ownership, configs) "
                "VALUES (?,?,?,?,?,?,?)", (bucket.name, bucket.region, bucket.owner, bucket.created_us,
                                           bucket.versioning, bucket.object_ownership, _dumps(bucket.configs)))
            return int(cur.lastrowid or 0)
        bucket.id = await self.db.write(op)
        self._buckets[bucket.name] = bucket
        return bucket

    def cached_bucket(self, name: str) -> Bucket | None:
        return self._buckets.get(name)

    async def list_buckets(self) -> list[Bucket]:
        return sorted(self._buckets.values(), key=lambda b: b.name)

    async def update_bucket(self, bucket: Bucket) -> None:
        await self.db.write(lambda c: c.execute(
            "UPDATE buckets SET versioning=?, object_ownership=?, configs=? WHERE id=?",
            (bucket.versioning, bucket.object_ownership, _dumps(bucket.configs), bucket.id)))
        self._buckets[bucket.name] = bucket

    async def delete_bucket_if_empty(self, bucket: Bucket) -> bool:
        def op(c: sqlite3.Connection) -> bool:
            if c.execute("SELECT 1 FROM versions WHERE bucket_id=? LIMIT 1", (bucket.id,)).fetchone():
                return False
            if c.execute("SELECT 1 FROM uploads WHERE bucket_id=? LIMIT 1", (bucket.id,)).fetchone():
                return False
            c.execute("DELETE FROM buckets WHERE id=?", (bucket.id,))
            return True
        ok = await self.db.write(op)
        if ok:
            self._buckets.pop(bucket.name, None)
        return ok

    # ---- versions -----------------------------------------------------------------------------------------
    async def put_version(self, version: ObjectVersion, versioning: str, check: LatestCheck | None = None,
                          outbox: list[OutboxItem] | None = None) -> list[BlobSegment]:
        def op(c: sqlite3.Connection) -> list[BlobSegment]:
            if check is not None:
                check(_latest(c, version.bucket_id, _kb(version.key)))
            freed = _insert_version(c, version, versioning)
            if outbox:
                self.outbox.insert(c, outbox)
            return freed
        return await self.db.write(op)

    async def get_version(self, bucket_id: int, key: str, version_id: str | None) -> ObjectVersion | None:
        kb = _kb(key)
        if version_id is None:
            sql, args = f"SELECT {_V_COLS} FROM versions WHERE bucket_id=? AND key=? AND is_latest=1", (bucket_id, kb)
        elif version_id == "null":
            sql, args = (f"SELECT {_V_COLS} FROM versions WHERE bucket_id=? AND key=? AND null_version=1",
                         (bucket_id, kb))
        else:
            sql, args = (f"SELECT {_V_COLS} FROM versions WHERE bucket_id=? AND key=? AND vid=? AND null_version=0",
                         (bucket_id, kb, version_id))

        def op(c: sqlite3.Connection) -> ObjectVersion | None:
            row = c.execute(sql, args).fetchone()
            return _row_to_version(row) if row else None
        return await self.db.read(op)

    async def delete_version(self, bucket_id: int, key: str,
                             version_id: str) -> tuple[ObjectVersion | None, list[BlobSegment]]:
        kb = _kb(key)

        def op(c: sqlite3.Connection) -> tuple[ObjectVersion | None, list[BlobSegment]]:
            if version_id == "null":
                row = c.execute(f"SELECT {_V_COLS} FROM versions WHERE bucket_id=? AND key=? AND null_version=1",
                                (bucket_id, kb)).fetchone()
            else:
                row = c.execute(f"SELECT {_V_COLS} FROM versions WHERE bucket_id=? AND key=? AND vid=? "
                                "AND null_version=0", (bucket_id, kb, version_id)).fetchone()
            if not row:
                return None, []
            v = _row_to_version(row)
            c.execute("DELETE FROM versions WHERE bucket_id=? AND key=? AND vid=?", (bucket_id, kb, v.vid))
            if v.is_latest:
                _fix_latest(c, bucket_id, kb)
            return v, v.segments
        return await self.db.write(op)

    async def update_version(self, version: ObjectVersion, outbox: list[OutboxItem] | None = None) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "UPDATE versions SET tags=?, extra=?, user_meta=?, headers=? WHERE bucket_id=? AND key=? AND vid=?",
                (_dumps(version.tags), _dumps(version.extra), _dumps(version.user_meta), _dumps(version.headers),
                 version.bucket_id, _kb(version.key), version.vid))
            if outbox:
                self.outbox.insert(c, outbox)
        await self.db.write(op)

    async def list_objects(self, bucket_id: int, prefix: str, delimiter: str, after: str,
                           max_keys: int) -> ObjectsPage:
        return await self.db.read(lambda c: _list_objects(c, bucket_id, prefix, delimiter, after, max_keys))

    async def list_versions(self, bucket_id: int, prefix: str, delimiter: str, key_marker: str,
                            vid_marker: str, max_keys: int) -> ListPage:
        return await self.db.read(
            lambda c: _list(c, bucket_id, prefix, delimiter, key_marker, vid_marker or None, max_keys, True))

    # ---- multipart ----------------------------------------------------------------------------------------
    async def create_upload(self, u: MultipartUpload) -> None:
        await self.db.write(lambda c: c.execute(
            "INSERT INTO uploads(upload_id, bucket_id, key, initiated_us, owner, headers, user_meta, tags, "
            "checksum_algorithm, storage_class, extra, encryption) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (u.upload_id, u.bucket_id, _kb(u.key), u.initiated_us, u.owner, _dumps(u.headers),
             _dumps(u.user_meta), _dumps(u.tags), u.checksum_algorithm, u.storage_class, _dumps(u.extra),
             _dumps(u.encryption) if u.encryption else "")))

    async def get_upload(self, upload_id: str) -> MultipartUpload | None:
        def op(c: sqlite3.Connection) -> MultipartUpload | None:
            r = c.execute("SELECT upload_id, bucket_id, key, initiated_us, owner, headers, user_meta, tags, "
                          "checksum_algorithm, storage_class, extra, encryption FROM uploads WHERE upload_id=?",
                          (upload_id,)).fetchone()
            return _upload_from_row(r) if r else None
        return await self.db.read(op)

    async def put_part(self, part: UploadPart) -> list[BlobSegment]:
        def op(c: sqlite3.Connection) -> list[BlobSegment]:
            if not c.execute("SELECT 1 FROM uploads WHERE upload_id=?", (part.upload_id,)).fetchone():
                raise AWSError("NoSuchUpload", UploadId=part.upload_id)
            old = c.execute("SELECT blob_id, size FROM parts WHERE upload_id=? AND part_number=?",
                            (part.upload_id, part.part_number)).fetchone()
            c.execute("INSERT OR REPLACE INTO parts(upload_id, part_number, blob_id, size, etag, last_modified_us, "
                      "checksum) VALUES (?,?,?,?,?,?,?)", (part.upload_id, part.part_number, part.blob_id,
                                                           part.size, part.etag, part.last_modified_us,
                                                           _dumps(part.checksum)))
            return [BlobSegment(old[0], old[1])] if old else []
        return await self.db.write(op)

    async def list_parts(self, upload_id: str, after: int, max_parts: int) -> list[UploadPart]:
        def op(c: sqlite3.Connection) -> list[UploadPart]:
            rows = c.execute("SELECT upload_id, part_number, blob_id, size, etag, last_modified_us, checksum "
                             "FROM parts WHERE upload_id=? AND part_number>? ORDER BY part_number LIMIT ?",
                             (upload_id, after, max_parts)).fetchall()
            return [UploadPart(r[0], r[1], r[2], r[3], r[4], r[5], _loads(r[6])) for r in rows]
        return await self.db.read(op)

    async def list_uploads(self, bucket_id: int, prefix: str, key_marker: str, upload_marker: str,
                           max_uploads: int) -> list[MultipartUpload]:
        pb = _kb(prefix)
        upper = _prefix_upper(pb)

        def op(c: sqlite3.Connection) -> list[MultipartUpload]:
            sql = ("SELECT upload_id, bucket_id, key, initiated_us, owner, headers, user_meta, tags, "
                   "checksum_algorithm, storage_class, extra, encryption FROM uploads WHERE bucket_id=? AND key>=?")
            args: list[Any] = [bucket_id, pb]
            if upper is not None:
                sql += " AND key<?"
                args.append(upper)
            if key_marker:
                if upload_marker:
                    sql += " AND (key>? OR (key=? AND upload_id>?))"
                    args += [_kb(key_marker), _kb(key_marker), upload_marker]
                else:
                    sql += " AND key>?"
                    args.append(_kb(key_marker))
            # upload ids sort by initiation time (see multipart.py), so this is S3's order and the
            # upload-id-marker comparison above agrees with it
            sql += " ORDER BY key, upload_id LIMIT ?"
            args.append(max_uploads)
            return [_upload_from_row(r) for r in c.execute(sql, args).fetchall()]
        return await self.db.read(op)

    async def complete_upload(self, upload: MultipartUpload, version: ObjectVersion, versioning: str,
                              check: LatestCheck | None = None,
                              outbox: list[OutboxItem] | None = None) -> list[BlobSegment]:
        used = {s.blob_id for s in version.segments}

        def op(c: sqlite3.Connection) -> list[BlobSegment]:
            if not c.execute("SELECT 1 FROM uploads WHERE upload_id=?", (upload.upload_id,)).fetchone():
                raise AWSError("NoSuchUpload", UploadId=upload.upload_id)
            if check is not None:
                check(_latest(c, version.bucket_id, _kb(version.key)))
            freed = [BlobSegment(b, s) for b, s in c.execute(
                "SELECT blob_id, size FROM parts WHERE upload_id=?", (upload.upload_id,)).fetchall()
                if b not in used]
            c.execute("DELETE FROM parts WHERE upload_id=?", (upload.upload_id,))
            c.execute("DELETE FROM uploads WHERE upload_id=?", (upload.upload_id,))
            freed.extend(_insert_version(c, version, versioning))
            if outbox:
                self.outbox.insert(c, outbox)
            return freed
        return await self.db.write(op)

    async def abort_upload(self, upload_id: str) -> list[BlobSegment] | None:
        def op(c: sqlite3.Connection) -> list[BlobSegment] | None:
            if not c.execute("SELECT 1 FROM uploads WHERE upload_id=?", (upload_id,)).fetchone():
                return None
            freed = [BlobSegment(b, s) for b, s in c.execute(
                "SELECT blob_id, size FROM parts WHERE upload_id=?", (upload_id,)).fetchall()]
            c.execute("DELETE FROM parts WHERE upload_id=?", (upload_id,))
            c.execute("DELETE FROM uploads WHERE upload_id=?", (upload_id,))
            return freed
        return await self.db.write(op)

    # ---- maintenance --------------------------------------------------------------------------------------
    async def referenced_blob_ids(self) -> set[str]:
        def op(c: sqlite3.Connection) -> set[str]:
            ids: set[str] = set()
            for (seg,) in c.execute("SELECT segments FROM versions WHERE segments != '[]'"):
                ids.update(b for b, _ in _loads(seg))
            ids.update(b for (b,) in c.execute("SELECT blob_id FROM parts"))
            return ids
        return await self.db.read(op)

    async def master_key_ids(self) -> set[str]:
        """Every master key id an SSE-S3 envelope (of a version or an upload) names."""
        def op(c: sqlite3.Connection) -> set[str]:
            ids: set[str] = set()
            for table in ("versions", "uploads"):
                ids.update(k for (k,) in c.execute(
                    f"SELECT DISTINCT json_extract(encryption, '$.kid') FROM {table} WHERE encryption != ''") if k)
            ids.update(k for (k,) in c.execute(
                "SELECT DISTINCT json_extract(encryption, '$.okid') FROM versions WHERE encryption != ''") if k)
            return ids
        return await self.db.read(op)

    async def rewrap_envelopes(self, rewrap: Callable[[dict[str, Any]], dict[str, Any] | None],
                               batch: int = 500) -> int:
        """Applies `rewrap` to every stored encryption envelope (versions and multipart uploads; a version's
        also gets `_at`: [bucket id, key, version id]), saving the ones it returns changed; returns how many changed. Batched: each batch is one transaction."""
        changed = 0
        for table, cols in (("versions", "bucket_id, key, vid"), ("uploads", "upload_id")):
            after: tuple[Any, ...] | None = None
            while True:
                where = "encryption != ''" + (f" AND ({cols}) > ({','.join('?' * len(after))})" if after else "")

                def op(c: sqlite3.Connection, where: str = where, after: Any = after, table: str = table,
                       cols: str = cols) -> tuple[int, tuple[Any, ...] | None]:
                    rows = c.execute(f"SELECT {cols}, encryption FROM {table} WHERE {where} ORDER BY {cols} "
                                     f"LIMIT ?", (*(after or ()), batch)).fetchall()
                    n = 0
                    for r in rows:
                        doc = _loads(r[-1])
                        if table == "versions":  # where the envelope lives (SSE-C replicas' origin tags name it)
                            doc["_at"] = [r[0], r[1].decode("utf-8") if isinstance(r[1], bytes) else r[1], r[2]]
                        new = rewrap(doc)
                        if new is not None:
                            cond = " AND ".join(f"{col.strip()}=?" for col in cols.split(","))
                            c.execute(f"UPDATE {table} SET encryption=? WHERE {cond}", (_dumps(new), *r[:-1]))
                            n += 1
                    return n, (tuple(rows[-1][:-1]) if len(rows) == batch else None)
                n, after = await self.db.write(op)
                changed += n
                if after is None:
                    break
        return changed

    async def close(self) -> None:
        self.db.close()


def _migrate(c: sqlite3.Connection) -> None:
    for table, column, definition in REGION_MIGRATIONS:
        if column not in {r[1] for r in c.execute(f"PRAGMA table_info({table})")}:
            c.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


def _upload_from_row(r: tuple[Any, ...]) -> MultipartUpload:
    return MultipartUpload(upload_id=r[0], bucket_id=r[1], key=r[2].decode("utf-8"), initiated_us=r[3], owner=r[4],
                           headers=_loads(r[5]), user_meta=_loads(r[6]), tags=_loads(r[7]),
                           checksum_algorithm=r[8], storage_class=r[9], extra=_loads(r[10]),
                           encryption=_loads(r[11]) if r[11] else {})


def _list(c: sqlite3.Connection, bucket_id: int, prefix: str, delimiter: str, marker: str,
          vid_marker: str | None, max_keys: int, all_versions: bool) -> ListPage:
    """Walks keys in byte order from `marker`, folding keys under `delimiter` into common prefixes.

    A folded prefix is skipped with one index seek, so a listing costs O(entries returned), not O(keys).
    """
    pb = _kb(prefix)
    upper = _prefix_upper(pb)
    db = _kb(delimiter) if delimiter else b""
    out: list[ListedVersion] = []
    prefixes: list[str] = []
    count = 0
    if all_versions:
        base = f"SELECT {_LIST_COLS} FROM versions WHERE bucket_id=?"
    else:
        base = f"SELECT {_LIST_COLS} FROM versions WHERE bucket_id=? AND is_latest=1 AND delete_marker=0"
    # cursor position: (key bytes, vid or None, inclusive?)
    pos_key, pos_vid, after_marker = pb, None, False
    mb = _kb(marker) if marker else b""
    if mb and mb >= pb:
        pos_key, pos_vid, after_marker = mb, vid_marker, True
        if db and mb.startswith(pb):
            idx = mb.find(db, len(pb))
            if idx >= 0:  # the marker lies inside a common prefix already returned: skip past all of it
                nxt = _prefix_upper(mb[: idx + len(db)])
                if nxt is None:
                    return ListPage([], [], False)
                pos_key, pos_vid, after_marker = nxt, None, False
    last_key: bytes | None = None
    last_vid: str | None = None
    truncated = False
    batch = max(min(max_keys + 1, 1000), 1)
    while True:
        args: list[Any] = [bucket_id]
        sql = base
        if after_marker and pos_vid is not None:
            sql += " AND (key>? OR (key=? AND vid<?))"
            args += [pos_key, pos_key, pos_vid]
        elif after_marker:
            sql += " AND key>?"
            args.append(pos_key)
        else:
            sql += " AND key>=?"
            args.append(pos_key)
        if upper is not None:
            sql += " AND key<?"
            args.append(upper)
        sql += " ORDER BY key, vid DESC LIMIT ?" if all_versions else " ORDER BY key LIMIT ?"
        args.append(batch)
        rows = c.execute(sql, args).fetchall()
        if not rows:
            break
        seeked = False
        for r in rows:
            kbytes: bytes = r[0]
            if db:
                idx = kbytes.find(db, len(pb))
                if idx >= 0:
                    cp = kbytes[: idx + len(db)]
                    if count >= max_keys:
                        truncated = True
                        break
                    prefixes.append(cp.decode("utf-8"))
                    count += 1
                    last_key, last_vid = cp, None
                    nxt = _prefix_upper(cp)
                    if nxt is None:
                        rows = []
                        break
                    pos_key, pos_vid, after_marker = nxt, None, False
                    seeked = True
                    break
            if count >= max_keys:
                truncated = True
                break
            out.append(_list_row(r))
            count += 1
            last_key, last_vid = kbytes, r[1]
        if truncated or (not rows):
            break
        if not seeked:
            if len(rows) < batch:
                break
            pos_key, pos_vid, after_marker = last_key or pos_key, (last_vid if all_versions else None), True
    page = ListPage(out, prefixes, truncated)
    if truncated and last_key is not None:
        page.next_key = last_key.decode("utf-8")
        page.next_vid = last_vid
    return page


# the listing tuple straight from SQL (see `ListedObject`), read from the covering index `versions_listing`
_OBJ_COLS = ("CAST(key AS TEXT), last_modified_us, etag, size, storage_class, "
             "NULLIF(substr(checksum_kind, 1, instr(checksum_kind, ':') - 1), ''), "
             "NULLIF(substr(checksum_kind, instr(checksum_kind, ':') + 1), '')")


def _list_objects(c: sqlite3.Connection, bucket_id: int, prefix: str, delimiter: str, after: str,
                  max_keys: int) -> ObjectsPage:
    """Current objects from `after`. Without a delimiter, one range scan of the covering index whose rows are
    the page's tuples as they come out of `fetchall` (no per-row Python); with one, the general walk."""
    if delimiter:
        page = _list(c, bucket_id, prefix, delimiter, after, None, max_keys, False)
        rows: list[ListedObject] = [
            (v.key, v.last_modified_us, v.etag, v.size, v.storage_class, v.checksum.get("algorithm"),
             v.checksum.get("type")) for v in page.versions]
        return ObjectsPage(rows, page.common_prefixes, page.truncated, page.next_key)
    pb, mb = _kb(prefix), _kb(after)
    sql = f"SELECT {_OBJ_COLS} FROM versions WHERE bucket_id=? AND is_latest=1 AND delete_marker=0"
    args: list[Any] = [bucket_id]
    if mb and mb >= pb:
        sql += " AND key>?"
        args.append(mb)
    else:
        sql += " AND key>=?"
        args.append(pb)
    upper = _prefix_upper(pb)
    if upper is not None:
        sql += " AND key<?"
        args.append(upper)
    args.append(max_keys + 1)
    rows = c.execute(sql + " ORDER BY key LIMIT ?", args).fetchall()
    if len(rows) <= max_keys:
        return ObjectsPage(rows, [], False)
    del rows[max_keys:]
    return ObjectsPage(rows, [], True, rows[-1][0] if rows else None)
