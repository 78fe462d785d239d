"""SQLite `IamStore`: one `iam.db` in the deployment directory, shared by every region process."""

from __future__ import annotations

import json
import mmap
import os
import secrets
import sqlite3
import time
from typing import Callable, TypeVar

from ..meta.sqlite.engine import SqliteEngine, connect
from .errors import already_exists, delete_conflict, limit_exceeded, no_such_entity
from .model import GROUP, ROLE, USER, AccessKey, Entity, IamState, ManagedPolicy, PolicyVersion

_T = TypeVar("_T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
  kind TEXT NOT NULL, name TEXT NOT NULL COLLATE NOCASE, id TEXT NOT NULL, path TEXT NOT NULL,
  arn TEXT NOT NULL, created_us INTEGER NOT NULL, trust TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT '', max_session INTEGER NOT NULL DEFAULT 3600,
  tags TEXT NOT NULL DEFAULT '[]', boundary TEXT NOT NULL DEFAULT '', trust_ids TEXT NOT NULL DEFAULT '{}',
  PRIMARY KEY (kind, name));
CREATE TABLE IF NOT EXISTS access_keys (
  akid TEXT PRIMARY KEY, user TEXT NOT NULL COLLATE NOCASE, secret TEXT NOT NULL, status TEXT NOT NULL,
  created_us INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS inline_policies (
  kind TEXT NOT NULL, entity TEXT NOT NULL COLLATE NOCASE, name TEXT NOT NULL COLLATE NOCASE,
  document TEXT NOT NULL, PRIMARY KEY (kind, entity, name));
CREATE TABLE IF NOT EXISTS attachments (
  kind TEXT NOT NULL, entity TEXT NOT NULL COLLATE NOCASE, arn TEXT NOT NULL, seq INTEGER NOT NULL,
  PRIMARY KEY (kind, entity, arn));
CREATE TABLE IF NOT EXISTS policies (
  arn TEXT PRIMARY KEY, name TEXT NOT NULL, id TEXT NOT NULL, path TEXT NOT NULL, description TEXT NOT NULL,
  default_version TEXT NOT NULL, next_version INTEGER NOT NULL, created_us INTEGER NOT NULL,
  updated_us INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS policies_name ON policies(name COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS policy_versions (
  arn TEXT NOT NULL, version TEXT NOT NULL, document TEXT NOT NULL, created_us INTEGER NOT NULL,
  PRIMARY KEY (arn, version));
CREATE TABLE IF NOT EXISTS group_members (
  grp TEXT NOT NULL COLLATE NOCASE, user TEXT NOT NULL COLLATE NOCASE, PRIMARY KEY (grp, user));
"""

_NOUN = {USER: "user", ROLE: "role", GROUP: "group"}
MAX_ATTACHED = 10
MAX_KEYS = 2
MAX_VERSIONS = 5


def missing(kind: str, name: str) -> Exception:
    return no_such_entity(f"The {_NOUN[kind]} with name {name} cannot be found.")


def _need_entity(c: sqlite3.Connection, kind: str, name: str) -> None:
    if not c.execute("SELECT 1 FROM entities WHERE kind=? AND name=?", (kind, name)).fetchone():
        raise missing(kind, name)


def _need_boundary(c: sqlite3.Connection, arn: str) -> None:
    if arn.startswith("arn:aws:iam::aws:policy/"):
        return  # AWS-managed policies are not stored
    if c.execute("SELECT 1 FROM policies WHERE arn=?", (arn,)).fetchone() is None:
        raise no_such_entity(f"Scope ARN: {arn} does not exist or is not attachable.")


def _need_policy(c: sqlite3.Connection, arn: str) -> tuple[str, int]:
    row = c.execute("SELECT default_version, next_version FROM policies WHERE arn=?", (arn,)).fetchone()
    if row is None:
        raise no_such_entity(f"Policy {arn} was not found.")
    return row[0], row[1]


class _ChangeToken:
    """8 bytes in a file every region process maps: a fresh random value after each IAM commit."""

    def __init__(self, path: str) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < 8:
                os.ftruncate(fd, 8)
            self._map = mmap.mmap(fd, 8)
        finally:
            os.close(fd)

    def read(self) -> bytes:
        return self._map[:8]

    def bump(self) -> None:
        self._map[:8] = secrets.token_bytes(8)

    def close(self) -> None:
        self._map.close()


class SqliteIamStore:
    def __init__(self, path: str) -> None:
        # holds users' secret access keys: 0600 from the start (SQLite gives -wal/-shm the database's mode)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        self.db = SqliteEngine(path, SCHEMA, readers=1)
        self._probe = connect(path, readonly=True)  # used only by the event loop's thread
        self._version = -1
        self._token = _ChangeToken(path + ".changed")
        self._seen = b""
        self._probed_at = 0.0

    def changed(self) -> bool:
        """Whether any process committed an IAM change since the last call. Every write through this store
        stores a fresh random token in a small shared-memory file after its commit (and before its caller
        answers), so the per-request check is one 8-byte read. `PRAGMA data_version` (which moves on any commit
        by any connection, ~30 µs) is still consulted every 100 ms, for a writer that died between its commit
        and its token."""
        changed = False
        token = self._token.read()
        if token != self._seen:
            self._seen = token
            changed = True
        now = time.monotonic()
        if changed or now - self._probed_at >= 0.1:
            self._probed_at = now
            v = self._probe.execute("PRAGMA data_version").fetchone()[0]
            if v != self._version:
                self._version = v
                changed = True
        return changed

    async def _write(self, op: Callable[[sqlite3.Connection], _T]) -> _T:
        try:
            return await self.db.write(op)
        finally:
            self._token.bump()

    async def load(self) -> IamState:
        return await self.db.read(_load)

    # ---- entities -----------------------------------------------------------------------------------------
    async def create_entity(self, e: Entity) -> None:
        def op(c: sqlite3.Connection) -> None:
            if c.execute("SELECT 1 FROM entities WHERE kind=? AND name=?", (e.kind, e.name)).fetchone():
                raise already_exists(f"{_NOUN[e.kind].capitalize()} with name {e.name} already exists.")
            if e.boundary:
                _need_boundary(c, e.boundary)
            c.execute("INSERT INTO entities(kind, name, id, path, arn, created_us, trust, description, max_session,"
                      " tags, boundary, trust_ids) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                      (e.kind, e.name, e.id, e.path, e.arn, e.created_us, e.trust, e.description, e.max_session,
                       json.dumps(e.tags), e.boundary, json.dumps(e.trust_ids)))
        await self._write(op)

    async def update_entity(self, e: Entity) -> None:
        def op(c: sqlite3.Connection) -> None:
            if e.boundary:
                _need_boundary(c, e.boundary)
            cur = c.execute("UPDATE entities SET trust=?, description=?, max_session=?, tags=?, boundary=?, "
                            "trust_ids=? WHERE kind=? AND name=?",
                            (e.trust, e.description, e.max_session, json.dumps(e.tags), e.boundary,
                             json.dumps(e.trust_ids), e.kind, e.name))
            if cur.rowcount == 0:
                raise missing(e.kind, e.name)
        await self._write(op)

    async def delete_entity(self, kind: str, name: str) -> None:
        def op(c: sqlite3.Connection) -> None:
            _need_entity(c, kind, name)
            if kind == USER and c.execute("SELECT 1 FROM access_keys WHERE user=?", (name,)).fetchone():
                raise delete_conflict("Cannot delete entity, must delete access keys first.")
            if c.execute("SELECT 1 FROM inline_policies WHERE kind=? AND entity=?", (kind, name)).fetchone():
                raise delete_conflict("Cannot delete entity, must delete policies first.")
            if c.execute("SELECT 1 FROM attachments WHERE kind=? AND entity=?", (kind, name)).fetchone():
                raise delete_conflict("Cannot delete entity, must detach all policies first.")
            if kind == USER and c.execute("SELECT 1 FROM group_members WHERE user=?", (name,)).fetchone():
                raise delete_conflict("Cannot delete entity, must remove users from group first.")
            if kind == GROUP and c.execute("SELECT 1 FROM group_members WHERE grp=?", (name,)).fetchone():
                raise delete_conflict("Cannot delete entity, must remove users from group first.")
            c.execute("DELETE FROM entities WHERE kind=? AND name=?", (kind, name))
        await self._write(op)

    # ---- inline policies ----------------------------------------------------------------------------------
    async def put_inline(self, kind: str, name: str, policy_name: str, document: str, max_total: int) -> None:
        def op(c: sqlite3.Connection) -> None:
            _need_entity(c, kind, name)
            c.execute("INSERT INTO inline_policies(kind, entity, name, document) VALUES (?,?,?,?) "
                      "ON CONFLICT(kind, entity, name) DO UPDATE SET document=excluded.document",
                      (kind, name, policy_name, document))
            total = sum(len("".join(d.split())) for (d,) in c.execute(
                "SELECT document FROM inline_policies WHERE kind=? AND entity=?", (kind, name)))
            if total > max_total:
                raise limit_exceeded(f"Maximum policy size of {max_total} bytes exceeded for {_NOUN[kind]} {name}")
        await self._write(op)

    async def delete_inline(self, kind: str, name: str, policy_name: str) -> None:
        def op(c: sqlite3.Connection) -> None:
            _need_entity(c, kind, name)
            cur = c.execute("DELETE FROM inline_policies WHERE kind=? AND entity=? AND name=?",
                            (kind, name, policy_name))
            if cur.rowcount == 0:
                raise no_such_entity(f"The {_NOUN[kind]} policy with name {policy_name} cannot be found.")
        await self._write(op)

    # ---- attachments --------------------------------------------------------------------------------------
    async def attach(self, kind: str, name: str, arn: str, builtin: bool) -> None:
        def op(c: sqlite3.Connection) -> None:
            _need_entity(c, kind, name)
            if not builtin:
                if c.execute("SELECT 1 FROM policies WHERE arn=?", (arn,)).fetchone() is None:
                    raise no_such_entity(f"Policy {arn} does not exist or is not attachable.")
            if c.execute("SELECT 1 FROM attachments WHERE kind=? AND entity=? AND arn=?",
                         (kind, name, arn)).fetchone():
                return
            n = c.execute("SELECT COUNT(*) FROM attachments WHERE kind=? AND entity=?", (kind, name)).fetchone()[0]
            if n >= MAX_ATTACHED:
                raise limit_exceeded(f"Cannot exceed quota for PoliciesPer{_NOUN[kind].capitalize()}: "
                                     f"{MAX_ATTACHED}")
            seq = c.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM attachments").fetchone()[0]
            c.execute("INSERT INTO attachments(kind, entity, arn, seq) VALUES (?,?,?,?)", (kind, name, arn, seq))
        await self._write(op)

    async def detach(self, kind: str, name: str, arn: str) -> None:
        def op(c: sqlite3.Connection) -> None:
            _need_entity(c, kind, name)
            cur = c.execute("DELETE FROM attachments WHERE kind=? AND entity=? AND arn=?", (kind, name, arn))
            if cur.rowcount == 0:
                raise no_such_entity(f"Policy {arn} was not found.")
        await self._write(op)

    # ---- access keys --------------------------------------------------------------------------------------
    async def add_key(self, key: AccessKey) -> None:
        def op(c: sqlite3.Connection) -> None:
            _need_entity(c, USER, key.user)
            n = c.execute("SELECT COUNT(*) FROM access_keys WHERE user=?", (key.user,)).fetchone()[0]
            if n >= MAX_KEYS:
                raise limit_exceeded(f"Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS}")
            c.execute("INSERT INTO access_keys(akid, user, secret, status, created_us) VALUES (?,?,?,?,?)",
                      (key.access_key_id, key.user, key.secret, key.status, key.created_us))
        await self._write(op)

    async def update_key(self, user: str, access_key_id: str, status: str) -> None:
        def op(c: sqlite3.Connection) -> None:
            _need_entity(c, USER, user)
            cur = c.execute("UPDATE access_keys SET status=? WHERE akid=? AND user=?", (status, access_key_id, user))
            if cur.rowcount == 0:
                raise no_such_entity(f"The Access Key with id {access_key_id} cannot be found.")
        await self._write(op)

    async def delete_key(self, user: str, access_key_id: str) -> None:
        def op(c: sqlite3.Connection) -> None:
            _need_entity(c, USER, user)
            cur = c.execute("DELETE FROM access_keys WHERE akid=? AND user=?", (access_key_id, user))
            if cur.rowcount == 0:
                raise no_such_entity(f"The Access Key with id {access_key_id} cannot be found.")
        await self._write(op)

    # ---- managed policies ---------------------------------------------------------------------------------
    async def create_policy(self, p: ManagedPolicy) -> None:
        def op(c: sqlite3.Connection) -> None:
            if c.execute("SELECT 1 FROM policies WHERE name=?", (p.name,)).fetchone():
                raise already_exists(f"A policy called {p.name} already exists. Duplicate names are not allowed.")
            c.execute("INSERT INTO policies(arn, name, id, path, description, default_version, next_version, "
                      "created_us, updated_us) VALUES (?,?,?,?,?,?,?,?,?)",
                      (p.arn, p.name, p.id, p.path, p.description, "v1", 2, p.created_us, p.updated_us))
            c.execute("INSERT INTO policy_versions(arn, version, document, created_us) VALUES (?,?,?,?)",
                      (p.arn, "v1", p.versions["v1"].document, p.created_us))
        await self._write(op)

    async def add_policy_version(self, arn: str, document: str, set_default: bool, now_us: int) -> str:
        def op(c: sqlite3.Connection) -> str:
            _, nxt = _need_policy(c, arn)
            n = c.execute("SELECT COUNT(*) FROM policy_versions WHERE arn=?", (arn,)).fetchone()[0]
            if n >= MAX_VERSIONS:
                raise limit_exceeded("A managed policy can have up to 5 versions. Before you create a new version,"
                                     " you must delete an existing version.")
            vid = f"v{nxt}"
            c.execute("INSERT INTO policy_versions(arn, version, document, created_us) VALUES (?,?,?,?)",
                      (arn, vid, document, now_us))
            c.execute("UPDATE policies SET next_version=?, updated_us=? WHERE arn=?", (nxt + 1, now_us, arn))
            if set_default:
                c.execute("UPDATE policies SET default_version=? WHERE arn=?", (vid, arn))
            return vid
        return await self._write(op)

    async def set_default_version(self, arn: str, version_id: str, now_us: int) -> None:
        def op(c: sqlite3.Connection) -> None:
            _need_policy(c, arn)
            if not c.execute("SELECT 1 FROM policy_versions WHERE arn=? AND version=?", (arn, version_id)).fetchone():
                raise no_such_entity(f"Policy {arn} version {version_id} does not exist or is not attachable.")
            c.execute("UPDATE policies SET default_version=?, updated_us=? WHERE arn=?", (version_id, now_us, arn))
        await self._write(op)

    async def delete_policy_version(self, arn: str, version_id: str) -> None:
        def op(c: sqlite3.Connection) -> None:
            default, _ = _need_policy(c, arn)
            if version_id == default:
                raise delete_conflict("Cannot delete the default version of the policy.")
            cur = c.execute("DELETE FROM policy_versions WHERE arn=? AND version=?", (arn, version_id))
            if cur.rowcount == 0:
                raise no_such_entity(f"Policy {arn} version {version_id} does not exist.")
        await self._write(op)

    async def delete_policy(self, arn: str) -> None:
        def op(c: sqlite3.Connection) -> None:
            _need_policy(c, arn)
            if c.execute("SELECT 1 FROM attachments WHERE arn=?", (arn,)).fetchone() or \
                    c.execute("SELECT 1 FROM entities WHERE boundary=?", (arn,)).fetchone():
                raise delete_conflict("Cannot delete a policy attached to entities.")
            if c.execute("SELECT COUNT(*) FROM policy_versions WHERE arn=?", (arn,)).fetchone()[0] > 1:
                raise delete_conflict("This policy has more than one version. Before you delete a policy, you must "
                                      "delete the policy's versions. The default version is deleted with the "
                                      "policy.")
            c.execute("DELETE FROM policy_versions WHERE arn=?", (arn,))
            c.execute("DELETE FROM policies WHERE arn=?", (arn,))
        await self._write(op)

    # ---- groups -------------------------------------------------------------------------------------------
    async def add_member(self, group: str, user: str) -> None:
        def op(c: sqlite3.Connection) -> None:
            _need_entity(c, GROUP, group)
            _need_entity(c, USER, user)
            c.execute("INSERT OR IGNORE INTO group_members(grp, user) VALUES (?,?)", (group, user))
        await self._write(op)

    async def remove_member(self, group: str, user: str) -> None:
        def op(c: sqlite3.Connection) -> None:
            _need_entity(c, GROUP, group)
            _need_entity(c, USER, user)
            c.execute("DELETE FROM group_members WHERE grp=? AND user=?", (group, user))
        await self._write(op)

    async def close(self) -> None:
        self.db.close()
        self._token.close()
        self._probe.close()


def _load(c: sqlite3.Connection) -> IamState:
    st = IamState()
    c.execute("BEGIN")
    try:
        for r in c.execute("SELECT kind, name, id, path, arn, created_us, trust, description, max_session, tags, "
                           "boundary, trust_ids FROM entities ORDER BY name COLLATE NOCASE"):
            e = Entity(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], json.loads(r[9]), r[10],
                       json.loads(r[11]))
            st.entities[(e.kind, e.name.lower())] = e
        for r in c.execute("SELECT akid, user, secret, status, created_us FROM access_keys ORDER BY created_us"):
            st.keys[r[0]] = AccessKey(r[0], r[1], r[2], r[3], r[4])
        for kind, entity, name, doc in c.execute("SELECT kind, entity, name, document FROM inline_policies "
                                                 "ORDER BY name"):
            st.inline.setdefault((kind, entity.lower()), {})[name] = doc
        for kind, entity, arn in c.execute("SELECT kind, entity, arn FROM attachments ORDER BY seq"):
            st.attached.setdefault((kind, entity.lower()), []).append(arn)
        for r in c.execute("SELECT arn, name, id, path, description, default_version, created_us, updated_us "
                           "FROM policies ORDER BY name"):
            st.policies[r[0]] = ManagedPolicy(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7])
        for arn, vid, doc, created in c.execute("SELECT arn, version, document, created_us FROM policy_versions"):
            if arn in st.policies:
                st.policies[arn].versions[vid] = PolicyVersion(vid, doc, created)
        for grp, user in c.execute("SELECT grp, user FROM group_members"):
            st.members.setdefault(grp.lower(), []).append(user)
    finally:
        c.execute("COMMIT")
    return st
