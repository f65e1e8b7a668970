"""Engine, sessions and the column types every model shares."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_only, greenlet_spawn, memoized_property
from sqlalchemy.util.queue import AsyncAdaptedQueue

from screen.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out, on PostgreSQL and on SQLite alike.

    SQLite keeps no offset, so a naive value read back is UTC by construction.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: every timestamp must carry a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


TRANSACTION_POOLER = "transaction"


class HandOffQueue(asyncio.Queue[Any]):
    """A queue that gives each returned item to the longest waiter, never to a newcomer.

    asyncio.Queue only wakes its first waiter; until that task runs, any other task that
    asks finds the item and takes it, and the waiter, finding the queue empty again, goes
    back to the end of the line. With more requests than pooled connections (64 autosaving
    tabs on a pool of 20) that made some checkouts wait many turns: a p99 about 6 × the
    mean. Handing the item over in `put_nowait` keeps the waiters strictly first come,
    first served.
    """

    def put_nowait(self, item: Any) -> None:
        getters: Any = self._getters  # type: ignore[attr-defined]
        while getters:
            getter = getters.popleft()
            if not getter.done():
                getter.set_result(item)
                return
        super().put_nowait(item)

    async def get(self) -> Any:
        if not self.empty():  # only when nobody waits: a handed-over item is never queued
            return self.get_nowait()
        getter = asyncio.get_running_loop().create_future()
        getters: Any = self._getters  # type: ignore[attr-defined]
        getters.append(getter)
        try:
            return await getter
        except BaseException:
            if getter.done() and not getter.cancelled():
                # Handed an item just as this wait was cancelled (a pool timeout): pass it on.
                self.put_nowait(getter.result())
            else:
                getter.cancel()
                if getter in getters:
                    getters.remove(getter)
            raise


class _FairAdaptedQueue(AsyncAdaptedQueue[Any]):
    @memoized_property
    def _queue(self) -> asyncio.Queue[Any]:
        # Created on first use, inside the running loop, as SQLAlchemy's own queue is.
        return HandOffQueue(maxsize=self.maxsize)


class FairAsyncQueuePool(AsyncAdaptedQueuePool):
    """SQLAlchemy's asyncio pool, its waiters served in the order they came."""

    _queue_class = _FairAdaptedQueue
    # The pool logs under its class's module; under SQLAlchemy's namespace it keeps the
    # library's WARNING level, as its own pool does (under ours, "Pool disposed" INFO lines
    # went to stdout and into the JSON a CLI command prints there).
    _sqla_logger_namespace = "sqlalchemy.pool.impl.FairAsyncQueuePool"


def create_engine(
    url: str, *, pool_size: int | None = None, pooler: str | None = None, **kwargs: Any
) -> AsyncEngine:
    """The engine of one process. `pool_size` is SCREEN_DATABASE_POOL_SIZE; `pooler` is
    SCREEN_DATABASE_POOLER ("transaction" behind PgBouncer in transaction mode)."""
    # Statement parameters hold candidate answers and token hashes: keep them out of logs.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        # The web process and the in-process job runner write concurrently; WAL plus a
        # busy timeout turns "database is locked" into a short wait.
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # Twenty kept connections and no overflow: overflow connections are closed as soon as
    # they are returned, and under a burst of requests that meant a new PostgreSQL backend
    # (a process) per request.
    kwargs.setdefault("pool_size", pool_size or 20)
    kwargs.setdefault("max_overflow", 0)
    kwargs.setdefault("poolclass", FairAsyncQueuePool)
    # No ping on checkout: it is a round trip on every request, a third of an autosave's.
    # After a database restart the first statement on a dead connection fails, and
    # SQLAlchemy then discards every pooled connection older than that failure, so only
    # requests already in flight see an error (a candidate's autosave retries by itself).
    kwargs.setdefault("pool_pre_ping", False)
    # Proxies and managed services drop idle connections silently; renew them first.
    kwargs.setdefault("pool_recycle", 1800)
    if pooler == TRANSACTION_POOLER:
        # PgBouncer in transaction mode hands each transaction whichever server connection
        # is free, so nothing may outlive a transaction on one. asyncpg's statement cache
        # (and SQLAlchemy's) keeps named prepared statements per client connection, which
        # then run on a server that never prepared them ("prepared statement … does not
        # exist") or collide with another client's of the same name ("already exists").
        # Without both caches asyncpg prepares every statement unnamed, and PgBouncer keeps
        # one server from its parse to its result: asyncpg sends parse and describe with a
        # Flush, not a Sync, and PgBouncer moves a client only at a Sync's ReadyForQuery,
        # in or out of a transaction (HotStatement's and the export's raw statements run
        # outside one). Unique names (SQLAlchemy's docs' prepared_statement_name_func)
        # are not used: each would stay prepared on whichever server ran it, for good.
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("statement_cache_size", 0)
        connect_args.setdefault("prepared_statement_cache_size", 0)
        kwargs["connect_args"] = connect_args
    return create_async_engine(url, **kwargs)


def engine_for(settings: Settings) -> AsyncEngine:
    """The engine the settings describe: the one way the app, the worker and the CLI open
    the database."""
    return create_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        pooler=settings.database_pooler,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def is_postgres(session_or_engine: AsyncSession | AsyncEngine) -> bool:
    if isinstance(session_or_engine, AsyncSession):
        return session_or_engine.get_bind().dialect.name == "postgresql"
    return session_or_engine.dialect.name == "postgresql"


def _run_pooled(
    engine: AsyncEngine, sql: str, arguments: list[Any], many: bool
) -> Sequence[Sequence[Any]]:
    """A HotStatement's round trip on PostgreSQL, in a greenlet (`greenlet_spawn`)."""
    # Straight from the pool, without a Connection around it (a quarter of this call's
    # time went there); a fresh checkout has no transaction open, so asyncpg autocommits,
    # and the checkin's reset has nothing to roll back.
    pooled = engine.sync_engine.raw_connection()
    try:
        driver: Any = pooled.driver_connection
        if many:
            rows: Sequence[Sequence[Any]] = await_only(driver.fetch(sql, *arguments))
            return rows
        row: Sequence[Any] | None = await_only(driver.fetchrow(sql, *arguments))
        return [] if row is None else [row]
    except asyncio.CancelledError:
        # Cancelled mid-statement: this connection's state is unknown, the others are fine.
        pooled.invalidate()
        raise
    except Exception as error:
        # A refusal by the server (a unique violation, say) leaves the connection healthy.
        # Anything else means it is dead (the database restarted or dropped us): as
        # SQLAlchemy does on a disconnect, discard it and mark every older pooled one for
        # renewal, so one request fails rather than one per pooled connection.
        if not isinstance(error, asyncpg.PostgresError) or isinstance(
            error, asyncpg.PostgresConnectionError | asyncpg.OperatorInterventionError
        ):
            engine.sync_engine.pool._invalidate(pooled, error)
        raise
    finally:
        pooled.close()


class HotStatement:
    """One statement on a hot path, run in one round trip with nothing around it.

    Autocommitted (no BEGIN and COMMIT of its own), and on PostgreSQL executed by asyncpg
    directly from SQL compiled once, because on the busiest routes SQLAlchemy's execution
    layer cost as much CPU as the database. Bind values skip SQLAlchemy's type processing
    there, so they must already be what the database expects (aware UTC datetimes);
    asyncpg returns timestamps aware in UTC, as `UTCDateTime` does on SQLite.
    """

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._asyncpg: tuple[str, tuple[str, ...], dict[str, Any]] | None = None

    def _compiled(self, dialect: Dialect) -> tuple[str, tuple[str, ...], dict[str, Any]]:
        if self._asyncpg is None:
            compiled = cast(
                SQLCompiler, cast(ClauseElement, self.statement).compile(dialect=dialect)
            )
            self._asyncpg = (str(compiled), tuple(compiled.positiontup or ()), compiled.params)
        return self._asyncpg

    async def first(self, engine: AsyncEngine, **params: Any) -> Sequence[Any] | None:
        rows = await self._run(engine, params, many=False)
        return rows[0] if rows else None

    async def all(self, engine: AsyncEngine, **params: Any) -> Sequence[Sequence[Any]]:
        return await self._run(engine, params, many=True)

    async def _run(
        self, engine: AsyncEngine, params: dict[str, Any], *, many: bool
    ) -> Sequence[Sequence[Any]]:
        if engine.dialect.name == "postgresql":
            sql, names, literals = self._compiled(engine.dialect)
            arguments = [params[name] if name in params else literals[name] for name in names]
            # One greenlet for the checkout, the statement and the checkin: the pool is
            # synchronous code that may await, and starting a greenlet for each end of the
            # checkout cost as much CPU as asyncpg's round trip.
            return await greenlet_spawn(_run_pooled, engine, sql, arguments, many)
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            result = await autocommit.execute(self.statement, params)
            if not result.returns_rows:  # a DELETE or UPDATE without RETURNING
                return []
            if many:
                return list(result.all())
            first = result.first()
            return [] if first is None else [first]
