"""The PostgreSQL source of an export: `COPY (SELECT …) TO STDOUT` producing finished CSV.

On PostgreSQL the rows of a CSV or XLSX export never pass through Python objects: the
query formats every cell exactly as the Python path in `screen.pipeline.exports` does (ISO 8601
UTC timestamps, numbers rounded half-up and written like Python writes a float,
`true`/`false`, formula-looking text prefixed with `'`), and COPY streams it. Measured
on the development machine, formatting in Python ran at less than half COPY's speed.
The two paths are held to the same output by the export tests, which run on both
backends.

Rows arrive in chunks of whole records (asyncpg hands over complete CopyData messages)
through a bounded queue, so a slow download slows the COPY instead of filling memory.
The first 200 rows come from a COPY of their own, so they leave before the rest of the
screen is joined and ordered; both COPYs read one snapshot (a repeatable-read, read-only
transaction). The export holds one pooled connection and that snapshot until the last row
is sent, so only `MAX_RUNNING` run at once in a process; other exports meanwhile take the
paged Python path, which writes the same bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# Chunks waiting between the COPY and the download; each is one network read of rows.
QUEUE_CHUNKS = 8
# A COPY holds its pooled connection until the download ends, however slow the client:
# past this many at once in a process, exports take the paged path (short sessions).
MAX_RUNNING = 2
_running = 0


def has_room() -> bool:
    return _running < MAX_RUNNING


# Rows of the first COPY (see `_copied`): few enough that PostgreSQL plans them as index
# walks in id order (at 1,000 it scanned all attempts for a hash join), enough to start
# the download.
FIRST_ROWS = 200
# The id of the screen's FIRST_ROWS-th invitation up to the last one exported (none when
# the screen has fewer): where the first COPY ends.
_BOUNDARY = (
    "SELECT id FROM invitations WHERE screen_id = :screen AND id <= :upto "
    "ORDER BY id OFFSET :rows - 1 LIMIT 1"
)

_DANGEROUS = "('=', '+', '-', '@', E'\\t', E'\\r', E'\\n')"
# Time after the deadline is not time used (the review page's rule too).
_TIME_USED = "(least(a.submitted_at, coalesce(a.deadline, a.submitted_at)) - a.started_at)"


def _text(expression: str) -> str:
    """A free-text cell: empty is NULL (an empty CSV cell either way), a formula is inert."""
    return (
        f"CASE WHEN left({expression}, 1) IN {_DANGEROUS} THEN '''' || {expression} "
        f"ELSE NULLIF({expression}, '') END"
    )


def _iso(expression: str) -> str:
    return f"""to_char({expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""


def _decimal(expression: str, places: int) -> str:
    """Rounded half-up, written as Python writes the float: `30.0`, `2.667`."""
    rounded = f"round(({expression})::numeric, {places})"
    return (
        f"CASE WHEN {rounded} = trunc({rounded}) THEN trunc({rounded})::text || '.0' "
        f"ELSE trim_scale({rounded})::text END"
    )


def _minutes(interval: str, per: int) -> str:
    return _decimal(f"extract(epoch FROM {interval}) / {per}", 1)


def results_query(dimension_count: int) -> str:
    """The export's rows for `$1` = screen id, `$2` = last invitation id, `$3` = screen
    title, `$4` = prompt slug, `$5` = prompt version (the screen's; each row shows the
    prompt its candidate answered, drawn from a rotation pool or not), `$6` = the report
    URL without the invitation id (`exports.report_url_prefix`), `$7…` = the dimension keys,
    and after them the invitation id the rows start after."""
    scores = [
        _decimal(f"(d.dimension_means ->> ${7 + index})::numeric", 3)
        for index in range(dimension_count)
    ]
    # float8 → numeric keeps 15 significant digits; the Python path rounds the same digits.
    weighted = _decimal("d.weighted_score", 3)
    columns = [
        "i.id",
        _text("i.candidate_name"),
        _text("i.candidate_email"),
        _text("i.external_id"),
        "i.screen_id",
        "$3::text",
        _text("coalesce(p.slug, $4::text)"),
        "coalesce(p.version, $5::integer)",
        "a.state",
        _iso("i.created_at"),
        _iso("a.started_at"),
        _iso("a.submitted_at"),
        _iso("x.decided_at"),
        f"CASE WHEN a.started_at IS NOT NULL AND a.submitted_at IS NOT NULL THEN "
        f"{_minutes(_TIME_USED, 60)} END",
        *scores,
        weighted,
        "d.outcome",
        """CASE WHEN d.outcome IS NULL THEN NULL
            WHEN d.adjudicated_by_id IS NOT NULL THEN 'true' ELSE 'false' END""",
        """(SELECT count(*) FROM reviews r
            WHERE r.attempt_id = a.id AND r.status = 'submitted')""",
        f"CASE WHEN x.decided_at IS NOT NULL THEN "
        f"{_minutes('(x.decided_at - i.created_at)', 3600)} END",
        "$6::text || i.id::text",
    ]
    select_list = ",\n        ".join(columns)
    # The decision the pipeline acts on: the rule's pass/fail, or the lead's when
    # adjudicated; one waiting for adjudication has no decided_at yet.
    return f"""
    SELECT
        {select_list}
    FROM invitations i
    LEFT JOIN prompts p ON p.id = i.prompt_id
    LEFT JOIN attempts a ON a.invitation_id = i.id
    LEFT JOIN decisions d ON d.attempt_id = a.id
    CROSS JOIN LATERAL (SELECT coalesce(
        d.adjudicated_at,
        CASE WHEN d.outcome IN ('pass', 'fail') THEN d.decided_at END) AS decided_at) x
    WHERE i.screen_id = $1 AND i.id <= $2 AND i.id > ${7 + dimension_count}
    ORDER BY i.id
    """  # noqa: S608 - every part is a constant of this module; values are parameters


async def copy_csv(
    engine: AsyncEngine, dimension_keys: Sequence[str], arguments: Sequence[Any]
) -> AsyncGenerator[bytes, None]:
    """The COPY's CSV records (LF line ends, no header), whole records per chunk."""
    global _running  # one count per process, only touched on the event loop
    _running += 1
    try:
        # Closed explicitly: `async for` alone would leave it (and its connection) to the
        # garbage collector when the download is abandoned.
        async with contextlib.aclosing(_copied(engine, dimension_keys, arguments)) as rows:
            async for chunk in rows:
                yield chunk
    finally:
        _running -= 1


async def _copied(
    engine: AsyncEngine, dimension_keys: Sequence[str], arguments: Sequence[Any]
) -> AsyncGenerator[bytes, None]:
    chunks: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=QUEUE_CHUNKS)
    abandoned = asyncio.Event()

    async def sink(data: bytes) -> None:
        if not abandoned.is_set():
            await chunks.put(bytes(data))  # asyncpg may hand over a bytearray

    query = results_query(len(dimension_keys))
    screen_id, last_id = arguments[0], arguments[1]

    async def run() -> None:
        try:
            async with engine.connect() as connection:
                # Two COPYs in one snapshot, so the file is what one COPY would have sent:
                # the first FIRST_ROWS rows, planned as the few rows they are (index walks
                # in id order), then the rest. One COPY of every row joins and sorts the
                # whole screen before its first row, so the download's first row waited
                # on all of history. The transaction is SQLAlchemy's (begun by the first
                # statement), so the pool ends it however the download ends.
                await connection.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
                boundary = await connection.scalar(
                    text(_BOUNDARY), {"screen": screen_id, "upto": last_id, "rows": FIRST_ROWS}
                )
                raw = await connection.get_raw_connection()
                driver: Any = raw.driver_connection
                bounds = (
                    [(0, last_id)] if boundary is None else [(0, boundary), (boundary, last_id)]
                )
                for after, upto in bounds:
                    await driver.copy_from_query(
                        query,
                        screen_id,
                        upto,
                        *arguments[2:],
                        *dimension_keys,
                        after,
                        output=sink,
                        format="csv",
                    )
        finally:
            if not abandoned.is_set():
                await chunks.put(None)

    task = asyncio.create_task(run(), name="export-copy")
    try:
        while (chunk := await chunks.get()) is not None:
            yield chunk
        await task  # raises what the COPY raised
    finally:
        if not task.done():
            # An abandoned download lets the COPY run out, its rows dropped, rather than
            # cancelling it: asyncpg's protocol breaks on a COPY cancelled mid-stream (it
            # logs a fatal error and loses the connection). The rest of a COPY is seconds
            # of database work at most, and the connection comes back whole.
            abandoned.set()
            while not chunks.empty():  # a sink waiting on the full queue goes on
                chunks.get_nowait()
            with contextlib.suppress(Exception):
                await task
