"""Each pytest-xdist worker its own PostgreSQL database and Redis db, set before anything
reads them: imported first by tests/conftest.py.

The suite empties the shared test database before each test, so two workers on one
database would empty each other's tables mid-test. With a database (and a Redis db) per
worker the server-side tests spread over both workers by module instead of all running in
one beside the browser tests, which took a quarter of the time. The first worker keeps the
names it was given; worker N uses `<database>_gwN` (created if missing, its schema rebuilt
by the `engine` fixture as the first worker's is) and Redis db `<db> + N`.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.engine import make_url

DATABASE_VARIABLE = "SCREEN_TEST_DATABASE_URL"
REDIS_VARIABLE = "SCREEN_TEST_REDIS_URL"


async def _connect(url: str, database: str | None = None) -> Any:
    """A plain asyncpg connection to the server of `url` (to `database`, or url's own)."""
    import asyncpg

    given = make_url(url)
    return await asyncpg.connect(
        host=given.host or "127.0.0.1",
        port=given.port or 5432,
        user=given.username,
        password=given.password,
        database=database or given.database,
    )


async def _create_if_missing(url: str, name: str) -> None:
    connection = await _connect(url)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


def _own_services(worker: str) -> None:
    number = int(worker.removeprefix("gw"))
    if number == 0:
        return
    database = os.environ.get(DATABASE_VARIABLE)
    if database and database.startswith("postgresql"):
        given = make_url(database)
        name = f"{given.database}_{worker}"
        asyncio.run(_create_if_missing(database, name))
        os.environ[DATABASE_VARIABLE] = given.set(database=name).render_as_string(
            hide_password=False
        )
    redis = os.environ.get(REDIS_VARIABLE)
    if redis:
        parts = urlsplit(redis)
        db = int(parts.path.lstrip("/") or 0) + number
        if db > 15:
            raise RuntimeError(f"{REDIS_VARIABLE}: no Redis db {db} for worker {worker}")
        os.environ[REDIS_VARIABLE] = urlunsplit(parts._replace(path=f"/{db}"))


_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker:
    _own_services(_worker)


async def _drop(url: str) -> None:
    connection = await _connect(url, "postgres")
    try:
        name = make_url(url).database
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def drop_own_database() -> None:
    """At the end of a worker's session: the database this module made for it, if any."""
    database = os.environ.get(DATABASE_VARIABLE)
    if _worker and _worker != "gw0" and database and database.startswith("postgresql"):
        asyncio.run(_drop(database))
