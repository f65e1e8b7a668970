"""The baselines served over HTTP: the least a Litestar handler can do for each hot path.

* `GET /ok` returns "ok": the ceiling of the framework, the server and the load
  generator together, and the baseline of the candidate page.
* `POST /upsert/{key}` decodes the same JSON body the autosave endpoint gets and does
  one raw asyncpg `INSERT … ON CONFLICT DO UPDATE` of the ~2 KB draft, returning the new
  revision: the baseline of autosave.
* `POST /claim` runs the textbook `UPDATE reviews … WHERE id = (SELECT … FOR UPDATE SKIP
  LOCKED) RETURNING id` on asyncpg and answers with the redirect `POST /review/next` gives
  (to the claimed review, or to the empty queue): the baseline of a reviewer's click.

Served by uvicorn in one process with the options `screen serve` uses
(`bench.procs.SERVER_OPTIONS`), so only the handler differs.

    python -m bench.baseline_app --port 8100   # BENCH_BASELINE_DSN=postgresql://… for /upsert
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from litestar import Litestar, MediaType, Request, get, post
from litestar.response import Redirect

from bench.procs import SERVER_OPTIONS

TABLE = "bench_drafts"
CREATE_TABLE = f"""
    CREATE TABLE IF NOT EXISTS {TABLE} (
        id integer PRIMARY KEY,
        revision integer NOT NULL,
        draft text NOT NULL,
        saved_at timestamptz NOT NULL
    )
"""
UPSERT = f"""
    INSERT INTO {TABLE} (id, revision, draft, saved_at) VALUES ($1, 1, $2, now())
    ON CONFLICT (id) DO UPDATE
    SET draft = EXCLUDED.draft, revision = {TABLE}.revision + 1, saved_at = now()
    RETURNING revision
"""
# `reviewer_id` is left NULL: the textbook statement has no per-reviewer exclusion, so
# setting it would trip the one-reviewer-per-attempt key.
CLAIM = """
    UPDATE reviews SET status = 'claimed', claimed_at = now(),
           lease_expires_at = now() + interval '30 minutes'
    WHERE id = (SELECT id FROM reviews WHERE status = 'open'
                ORDER BY due_at, queued_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING id
"""
# The app's SQLAlchemy pool holds 20 connections (screen.platform.db.create_engine), or
# SCREEN_DATABASE_POOL_SIZE; the scale-out scenario sets both to the same smaller size.
POOL_SIZE = 20


def create(dsn: str | None, pool_size: int = POOL_SIZE) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        app.state.pool = None
        if dsn:
            app.state.pool = await asyncpg.create_pool(dsn, min_size=2, max_size=pool_size)
        try:
            yield
        finally:
            if app.state.pool is not None:
                await app.state.pool.close()

    @get("/ok", media_type=MediaType.TEXT)
    async def ok() -> str:
        return "ok"

    @post("/upsert/{key:int}", status_code=200)
    async def upsert(key: int, request: Request[Any, Any, Any]) -> dict[str, int]:
        data = json.loads(await request.body())
        revision = await request.app.state.pool.fetchval(UPSERT, key, data["answer"])
        return {"revision": revision}

    @post("/claim", status_code=303)
    async def claim(request: Request[Any, Any, Any]) -> Redirect:
        claimed = await request.app.state.pool.fetchval(CLAIM)
        return Redirect(
            "/review?empty=1" if claimed is None else f"/review/{claimed}", status_code=303
        )

    return Litestar(route_handlers=[ok, upsert, claim], lifespan=[lifespan])


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args()
    app = create(
        os.environ.get("BENCH_BASELINE_DSN") or None,
        int(os.environ.get("BENCH_BASELINE_POOL_SIZE") or POOL_SIZE),
    )
    uvicorn.run(app, host=args.host, port=args.port, **SERVER_OPTIONS)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
