"""SQLite implementation of `GlobalStore`: one file shared by every region process of a deployment."""

from __future__ import annotations

import sqlite3

from ...protocol.timefmt import now_us
from ..model import BucketRegistration
from ..store import BucketNameTaken
from .engine import SqliteEngine
from .schema import GLOBAL_SCHEMA


def _reg(r: tuple[str, str, str, str, int]) -> BucketRegistration:
    return BucketRegistration(name=r[0], region=r[1], owner=r[2], state=r[3], created_us=r[4])


_COLS = "name, region, owner, state, created_us"


class SqliteGlobalStore:
    def __init__(self, path: str) -> None:
        self.db = SqliteEngine(path, GLOBAL_SCHEMA, readers=2)

    async def register_bucket(self, name: str, region: str, owner: str) -> BucketRegistration:
        def op(c: sqlite3.Connection) -> BucketRegistration:
            row = c.execute(f"SELECT {_COLS} FROM bucket_names WHERE name=?", (name,)).fetchone()
            if row:
                raise BucketNameTaken(_reg(row))
            reg = BucketRegistration(name, region, owner, "creating", now_us())
            c.execute(f"INSERT INTO bucket_names({_COLS}) VALUES (?,?,?,?,?)",
                      (reg.name, reg.region, reg.owner, reg.state, reg.created_us))
            return reg
        return await self.db.write(op)

    async def set_bucket_state(self, name: str, state: str) -> None:
        await self.db.write(lambda c: c.execute("UPDATE bucket_names SET state=? WHERE name=?", (state, name)))

    async def unregister_bucket(self, name: str) -> None:
        await self.db.write(lambda c: c.execute("DELETE FROM bucket_names WHERE name=?", (name,)))

    async def lookup_bucket(self, name: str) -> BucketRegistration | None:
        def op(c: sqlite3.Connection) -> BucketRegistration | None:
            row = c.execute(f"SELECT {_COLS} FROM bucket_names WHERE name=?", (name,)).fetchone()
            return _reg(row) if row else None
        return await self.db.read(op)

    async def list_registrations(self, owner: str | None = None,
                                 region: str | None = None) -> list[BucketRegistration]:
        def op(c: sqlite3.Connection) -> list[BucketRegistration]:
            sql, args = f"SELECT {_COLS} FROM bucket_names WHERE 1=1", []
            if owner is not None:
                sql += " AND owner=?"
                args.append(owner)
            if region is not None:
                sql += " AND region=?"
                args.append(region)
            return [_reg(r) for r in c.execute(sql + " ORDER BY name", args).fetchall()]
        return await self.db.read(op)

    async def set_region_endpoint(self, region: str, endpoint: str) -> None:
        await self.db.write(lambda c: c.execute(
            "INSERT INTO region_endpoints(region, endpoint) VALUES (?,?) "
            "ON CONFLICT(region) DO UPDATE SET endpoint=excluded.endpoint", (region, endpoint)))

    async def region_endpoints(self) -> dict[str, str]:
        return await self.db.read(lambda c: dict(c.execute("SELECT region, endpoint FROM region_endpoints")))

    async def close(self) -> None:
        self.db.close()
