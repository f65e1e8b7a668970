"""History at scale, cheaply: copy rows the product wrote, in bulk, on PostgreSQL.

A test arranges one candidate (or one review, one decision) through the real code and
then copies it tens of thousands of times with INSERT ... SELECT, so the copies have
exactly the shape the product writes, in a second or two instead of minutes.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.db import Base


async def last_id(db: AsyncSession, table: str) -> int:
    return int(await db.scalar(text(f"SELECT coalesce(max(id), 0) FROM {table}")) or 0)


async def copy_rows(
    db: AsyncSession,
    table: str,
    *,
    where: str,
    parents: str,
    link: str | None = None,
    overrides: dict[str, str] | None = None,
    **params: object,
) -> int:
    """Copy the rows of `table` matching `where` (over alias `t`) once per row of `parents`
    (a FROM item aliased `p`, with an `id`), pointing column `link` at that parent. Column
    values in `overrides` are SQL expressions over `t` and `p`. Returns the rows written."""
    overrides = overrides or {}
    columns = [c.name for c in Base.metadata.tables[table].columns if c.name != "id"]
    values = [overrides.get(c, "p.id" if c == link else f"t.{c}") for c in columns]
    result = await db.execute(
        text(
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM {table} t CROSS JOIN {parents} WHERE {where}"
        ),
        params,
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def copy_candidate(
    db: AsyncSession,
    attempt_id: int,
    copies: int,
    *,
    answer: str | None = None,
    reviews: str = "true",
    decision: bool = True,
    bands: str | None = None,
    invitation: dict[str, str] | None = None,
) -> None:
    """`copies` more candidates like the attempt's: invitation, attempt, the reviews that
    match `reviews` (SQL over `t`), its decision, the similarity bands that match `bands`
    (SQL over `t`). `answer` (an SQL expression over `p.id`, the copy's invitation id)
    replaces the final answer;
    `invitation` overrides the invitation's columns (SQL over `t` and `p`)."""
    invitations, attempts = await last_id(db, "invitations"), await last_id(db, "attempts")
    await copy_rows(
        db,
        "invitations",
        where="t.id = (SELECT invitation_id FROM attempts WHERE id = :attempt)",
        parents="generate_series(1, :copies) AS p(id)",
        overrides={
            "token_hash": "md5('copy-' || p.id::text || '-' || t.id::text)",
            "candidate_email": "'copy' || p.id::text || '@example.com'",
            "candidate_name": "'Copy ' || p.id::text",
            **(invitation or {}),
        },
        attempt=attempt_id,
        copies=copies,
    )
    answers = {"final_answer": answer} if answer else {}
    await copy_rows(
        db,
        "attempts",
        where="t.id = :attempt",
        parents="(SELECT id FROM invitations WHERE id > :after) AS p",
        link="invitation_id",
        overrides=answers,
        attempt=attempt_id,
        after=invitations,
    )
    parents = "(SELECT id FROM attempts WHERE id > :after) AS p"
    await copy_rows(
        db,
        "reviews",
        where=f"t.attempt_id = :attempt AND ({reviews})",
        parents=parents,
        link="attempt_id",
        attempt=attempt_id,
        after=attempts,
    )
    if decision:
        await copy_rows(
            db,
            "decisions",
            where="t.attempt_id = :attempt",
            parents=parents,
            link="attempt_id",
            attempt=attempt_id,
            after=attempts,
        )
    if bands:
        await copy_rows(
            db,
            "answer_bands",
            where=f"t.attempt_id = :attempt AND ({bands})",
            parents=parents,
            link="attempt_id",
            attempt=attempt_id,
            after=attempts,
        )
