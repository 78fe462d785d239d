"""Durable stack state in the region's own SQLite file (`regions/<name>/stacks.db`): stacks, their resources,
events, and the region's exports. Every state change is committed before the engine acts on it."""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..meta.sqlite.engine import SqliteEngine
from ..protocol.timefmt import now_us

SCHEMA = """
CREATE TABLE IF NOT EXISTS stacks (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
  template TEXT NOT NULL, description TEXT, parameters TEXT NOT NULL, no_echo TEXT NOT NULL,
  capabilities TEXT NOT NULL, tags TEXT NOT NULL, on_failure TEXT NOT NULL, created_us INTEGER NOT NULL,
  updated_us INTEGER, deleted_us INTEGER, outputs TEXT NOT NULL DEFAULT '[]', retain TEXT NOT NULL DEFAULT '[]',
  client_token TEXT, caller TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS stacks_name ON stacks(name, deleted_us);
CREATE TABLE IF NOT EXISTS resources (
  stack_id TEXT NOT NULL, logical_id TEXT NOT NULL, type TEXT NOT NULL, physical_id TEXT,
  status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', properties TEXT NOT NULL DEFAULT '{}',
  attrs TEXT NOT NULL DEFAULT '{}', deletion_policy TEXT NOT NULL DEFAULT 'Delete', updated_us INTEGER NOT NULL,
  planned_id TEXT, planned_us INTEGER,
  PRIMARY KEY (stack_id, logical_id)
);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, stack_id TEXT NOT NULL, event_id TEXT NOT NULL, logical_id TEXT NOT NULL,
  physical_id TEXT, type TEXT NOT NULL, ts_us INTEGER NOT NULL, status TEXT NOT NULL, reason TEXT,
  properties TEXT, client_token TEXT
);
CREATE INDEX IF NOT EXISTS events_stack ON events(stack_id, seq);
CREATE TABLE IF NOT EXISTS exports (name TEXT PRIMARY KEY, value TEXT NOT NULL, stack_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS imports (stack_id TEXT NOT NULL, export_name TEXT NOT NULL,
                                    PRIMARY KEY (stack_id, export_name));
"""

STACK_TYPE = "AWS::CloudFormation::Stack"


@dataclass
class Stack:
    id: str
    name: str
    status: str
    template: str
    parameters: list[dict[str, str]]  # [{ParameterKey, ParameterValue}] as given + defaults
    capabilities: list[str]
    tags: list[dict[str, str]]
    on_failure: str  # ROLLBACK | DO_NOTHING | DELETE
    created_us: int
    reason: str = ""
    description: str | None = None
    no_echo: list[str] = field(default_factory=list)
    updated_us: int | None = None
    deleted_us: int | None = None
    outputs: list[dict[str, str]] = field(default_factory=list)
    retain: list[str] = field(default_factory=list)
    client_token: str | None = None
    # who started the current operation (CreateStack/DeleteStack), as caller.py records it (no secrets): the
    # providers act with that principal's permissions
    caller: dict[str, Any] = field(default_factory=dict)

    @property
    def in_progress(self) -> bool:
        return self.status.endswith("_IN_PROGRESS")


@dataclass
class Resource:
    stack_id: str
    logical_id: str
    type: str
    status: str
    updated_us: int
    physical_id: str | None = None
    reason: str = ""
    properties: dict[str, Any] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)
    deletion_policy: str = "Delete"
    planned_id: str | None = None  # the name a creation is about to use, recorded before the call
    planned_us: int | None = None


@dataclass
class Event:
    stack_id: str
    event_id: str
    logical_id: str
    physical_id: str | None
    type: str
    ts_us: int
    status: str
    reason: str | None
    properties: str | None
    client_token: str | None = None


_STACK_COLS = ("id, name, status, reason, template, description, parameters, no_echo, capabilities, tags, "
               "on_failure, created_us, updated_us, deleted_us, outputs, retain, client_token, caller")
_RES_COLS = ("stack_id, logical_id, type, physical_id, status, reason, properties, attrs, deletion_policy, updated_us, "
             "planned_id, planned_us")
_EV_COLS = "stack_id, event_id, logical_id, physical_id, type, ts_us, status, reason, properties, client_token"


def _stack(r: tuple[Any, ...]) -> Stack:
    return Stack(id=r[0], name=r[1], status=r[2], reason=r[3], template=r[4], description=r[5],
                 parameters=json.loads(r[6]), no_echo=json.loads(r[7]), capabilities=json.loads(r[8]),
                 tags=json.loads(r[9]), on_failure=r[10], created_us=r[11], updated_us=r[12], deleted_us=r[13],
                 outputs=json.loads(r[14]), retain=json.loads(r[15]), client_token=r[16],
                 caller=json.loads(r[17]) if r[17] else {})


def _resource(r: tuple[Any, ...]) -> Resource:
    return Resource(stack_id=r[0], logical_id=r[1], type=r[2], physical_id=r[3], status=r[4], reason=r[5],
                    properties=json.loads(r[6]), attrs=json.loads(r[7]), deletion_policy=r[8], updated_us=r[9],
                    planned_id=r[10], planned_us=r[11])


def _event(r: tuple[Any, ...]) -> Event:
    return Event(*r)


class NameTaken(Exception):
    """A stack of that name already exists (and is not deleted)."""


class StackStore:
    def __init__(self, path: str) -> None:
        self.db = SqliteEngine(path, SCHEMA, readers=2)
        self.db.read_sync(_migrate)

    def close(self) -> None:
        self.db.close()

    # ---- stacks -------------------------------------------------------------------------------------------
    async def create_stack(self, s: Stack, event: Event) -> None:
        """Inserts a new stack (its first event with it); NameTaken if a live stack has the name."""
        def op(c: sqlite3.Connection) -> None:
            if c.execute("SELECT 1 FROM stacks WHERE name=? AND deleted_us IS NULL", (s.name,)).fetchone():
                raise NameTaken(s.name)
            c.execute(f"INSERT INTO stacks({_STACK_COLS}) VALUES ({','.join('?' * 18)})", (
                s.id, s.name, s.status, s.reason, s.template, s.description, json.dumps(s.parameters),
                json.dumps(s.no_echo), json.dumps(s.capabilities), json.dumps(s.tags), s.on_failure, s.created_us,
                s.updated_us, s.deleted_us, json.dumps(s.outputs), json.dumps(s.retain), s.client_token,
                json.dumps(s.caller)))
            _insert_event(c, event)
        await self.db.write(op)

    async def set_stack_status(self, stack_id: str, status: str, reason: str, event: Event | None,
                               deleted: bool = False, outputs: list[dict[str, str]] | None = None,
                               retain: list[str] | None = None, caller: dict[str, Any] | None = None) -> None:
        """`caller`: who starts the operation this status begins (recorded in the same transaction)."""
        def op(c: sqlite3.Connection) -> None:
            c.execute("UPDATE stacks SET status=?, reason=?, updated_us=? WHERE id=?",
                      (status, reason, now_us(), stack_id))
            if deleted:
                c.execute("UPDATE stacks SET deleted_us=? WHERE id=?", (now_us(), stack_id))
                c.execute("DELETE FROM exports WHERE stack_id=?", (stack_id,))
                c.execute("DELETE FROM imports WHERE stack_id=?", (stack_id,))
            if outputs is not None:
                c.execute("UPDATE stacks SET outputs=? WHERE id=?", (json.dumps(outputs), stack_id))
            if retain is not None:
                c.execute("UPDATE stacks SET retain=? WHERE id=?", (json.dumps(retain), stack_id))
            if caller is not None:
                c.execute("UPDATE stacks SET caller=? WHERE id=?", (json.dumps(caller), stack_id))
            if event is not None:
                _insert_event(c, event)
        await self.db.write(op)

    async def complete_create(self, stack_id: str, outputs: list[dict[str, str]], exports: dict[str, str],
                              imports: list[str], event: Event) -> str | None:
        """Records outputs, exports, the imports it uses and CREATE_COMPLETE, in one transaction; returns a
        conflicting export name instead (or an import that vanished, prefixed with '!')."""
        def op(c: sqlite3.Connection) -> str | None:
            for name in exports:
                if c.execute("SELECT 1 FROM exports WHERE name=?", (name,)).fetchone():
                    return name
            for name in imports:
                if not c.execute("SELECT 1 FROM exports WHERE name=?", (name,)).fetchone():
                    return "!" + name
                c.execute("INSERT OR IGNORE INTO imports(stack_id, export_name) VALUES (?,?)", (stack_id, name))
            for name, value in exports.items():
                c.execute("INSERT INTO exports(name, value, stack_id) VALUES (?,?,?)", (name, value, stack_id))
            c.execute("UPDATE stacks SET status=?, reason='', outputs=?, updated_us=? WHERE id=?",
                      (event.status, json.dumps(outputs), now_us(), stack_id))
            _insert_event(c, event)
            return None
        return await self.db.write(op)

    async def get_stack(self, name_or_id: str) -> Stack | None:
        """A live stack by name, or any stack (also deleted) by id."""
        def op(c: sqlite3.Connection) -> Stack | None:
            if name_or_id.startswith("arn:"):
                row = c.execute(f"SELECT {_STACK_COLS} FROM stacks WHERE id=?", (name_or_id,)).fetchone()
            else:
                row = c.execute(f"SELECT {_STACK_COLS} FROM stacks WHERE name=? AND deleted_us IS NULL",
                                (name_or_id,)).fetchone()
            return _stack(row) if row else None
        return await self.db.read(op)

    async def list_stacks(self, include_deleted: bool) -> list[Stack]:
        where = "" if include_deleted else "WHERE deleted_us IS NULL"
        rows = await self.db.read(lambda c: c.execute(
            f"SELECT {_STACK_COLS} FROM stacks {where} ORDER BY created_us DESC").fetchall())
        return [_stack(r) for r in rows]

    async def in_progress(self) -> list[Stack]:
        rows = await self.db.read(lambda c: c.execute(
            f"SELECT {_STACK_COLS} FROM stacks WHERE status LIKE '%_IN_PROGRESS'").fetchall())
        return [_stack(r) for r in rows]

    # ---- resources and events -----------------------------------------------------------------------------
    async def put_resource(self, r: Resource, event: Event | None) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute(f"INSERT OR REPLACE INTO resources({_RES_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", (
                r.stack_id, r.logical_id, r.type, r.physical_id, r.status, r.reason, json.dumps(r.properties),
                json.dumps(r.attrs), r.deletion_policy, r.updated_us, r.planned_id, r.planned_us))
            if event is not None:
                _insert_event(c, event)
        await self.db.write(op)

    async def resources(self, stack_id: str) -> list[Resource]:
        rows = await self.db.read(lambda c: c.execute(
            f"SELECT {_RES_COLS} FROM resources WHERE stack_id=? ORDER BY rowid", (stack_id,)).fetchall())
        return [_resource(r) for r in rows]

    async def resources_by_physical_id(self, physical_id: str) -> list[Resource]:
        rows = await self.db.read(lambda c: c.execute(
            f"SELECT {_RES_COLS} FROM resources WHERE physical_id=?", (physical_id,)).fetchall())
        return [_resource(r) for r in rows]

    async def add_event(self, event: Event) -> None:
        await self.db.write(lambda c: _insert_event(c, event))

    async def events(self, stack_id: str) -> list[Event]:
        """Newest first."""
        rows = await self.db.read(lambda c: c.execute(
            f"SELECT {_EV_COLS} FROM events WHERE stack_id=? ORDER BY seq DESC", (stack_id,)).fetchall())
        return [_event(r) for r in rows]

    # ---- exports ------------------------------------------------------------------------------------------
    async def exports(self) -> list[tuple[str, str, str]]:
        return await self.db.read(lambda c: c.execute(
            "SELECT name, value, stack_id FROM exports ORDER BY name").fetchall())

    async def importers(self, stack_id: str) -> list[tuple[str, str]]:
        """(export name, importing stack name) for this stack's exports that other live stacks import."""
        return await self.db.read(lambda c: c.execute(
            "SELECT e.name, s.name FROM exports e JOIN imports i ON i.export_name=e.name "
            "JOIN stacks s ON s.id=i.stack_id WHERE e.stack_id=? AND s.deleted_us IS NULL AND s.id<>?",
            (stack_id, stack_id)).fetchall())


def _migrate(c: sqlite3.Connection) -> None:
    """Columns added since a stacks.db was created."""
    if "caller" not in {r[1] for r in c.execute("PRAGMA table_info(stacks)")}:
        c.execute("ALTER TABLE stacks ADD COLUMN caller TEXT NOT NULL DEFAULT ''")


def _insert_event(c: sqlite3.Connection, e: Event) -> None:
    c.execute(f"INSERT INTO events({_EV_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?)", (
        e.stack_id, e.event_id, e.logical_id, e.physical_id, e.type, e.ts_us, e.status, e.reason, e.properties,
        e.client_token))


def new_event_id() -> str:
    return str(uuid.uuid4())
