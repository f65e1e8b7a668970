"""prompt counts: each prompt's exposure kept up to date instead of counted per view

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-06 19:00:00

The prompt library and a prompt's page showed each prompt version's exposure (how many
candidates started it, how many of its answers were flagged similar to another answer or
to a known leak) by counting every attempt and every match ever made on each view: 15 ms
at 10,000 invitations, 93 ms at 200,000 (`bench --scenario scale`). Now, as
`screen_counts` does per screen (0027), triggers keep the figures in the transaction of
every change, whichever code (or bulk load) makes it:

- `prompt_counts` holds per prompt version `seen` (attempts started), `similar` (answers
  with at least one match with another answer or an exemplar) and `leaked` (answers
  matching a known leak), spread over 8 shards by attempt id like `screen_counts`.
- An answer is counted once however many matches it has, so `answer_flags` keeps per
  attempt how many match rows of each kind it has; the prompt's figure moves when that
  number goes from 0 to 1 or back. Its row is the one place concurrent checks of one
  answer meet (an upsert on PostgreSQL waits for the other's commit, then adds to what it
  wrote), so two checks flagging one answer at once count it once, and an erasure that
  deletes the last match of an answer still in the library (its partner was erased)
  takes it out of the figure as a count over the rows would.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARDS = 8


def _kind(row: str) -> str:
    """The figure a match row counts towards (screen.review.exposure's kinds), or NULL."""
    return (
        f"CASE WHEN {row}.other_kind IN ('attempt', 'exemplar') THEN 'similar' "
        f"WHEN {row}.other_kind = 'leak' THEN 'leaked' END"
    )


def _bump(prompt: str, name: str, shard: str, delta: int, where: str) -> str:
    return (
        "INSERT INTO prompt_counts (prompt_id, name, shard, n) "
        f"SELECT {prompt}, {name}, {shard}, {delta} WHERE {where} "
        "ON CONFLICT (prompt_id, name, shard) DO UPDATE SET n = prompt_counts.n + excluded.n"
    )


def _prompt_of_attempt(attempt_id: str) -> str:
    return (
        "(SELECT i.prompt_id FROM attempts a, invitations i "
        f"WHERE a.id = {attempt_id} AND i.id = a.invitation_id)"
    )


def _seen(row: str, delta: int) -> list[str]:
    prompt = f"(SELECT i.prompt_id FROM invitations i WHERE i.id = {row}.invitation_id)"
    return [
        _bump(
            prompt,
            "'seen'",
            f"{row}.id % {SHARDS}",
            delta,
            f"{row}.started_at IS NOT NULL AND {prompt} IS NOT NULL",
        )
    ]


def _flag(row: str, delta: int) -> list[str]:
    """One match row more (+1) or less (-1) for its answer; the prompt's figure moves only
    when the answer's count of that kind leaves or reaches zero."""
    kind = _kind(row)
    mine = f"f.attempt_id = {row}.attempt_id AND f.kind = {kind}"
    counted = (
        "INSERT INTO answer_flags (attempt_id, kind, n) "
        f"SELECT {row}.attempt_id, {kind}, {delta} WHERE {kind} IS NOT NULL "
        "ON CONFLICT (attempt_id, kind) DO UPDATE SET n = answer_flags.n + excluded.n"
    )
    edge = 1 if delta > 0 else 0
    moved = (
        "INSERT INTO prompt_counts (prompt_id, name, shard, n) "
        f"SELECT i.prompt_id, f.kind, f.attempt_id % {SHARDS}, {delta} "
        "FROM answer_flags f, attempts a, invitations i "
        f"WHERE {mine} AND f.n = {edge} AND a.id = f.attempt_id AND i.id = a.invitation_id "
        "ON CONFLICT (prompt_id, name, shard) DO UPDATE SET n = prompt_counts.n + excluded.n"
    )
    # An answer with no match left keeps no row (an erased one's included).
    emptied = f"DELETE FROM answer_flags WHERE attempt_id = {row}.attempt_id AND n = 0"
    return [counted, moved, emptied]


# table: (columns whose change moves a figure, statements for one row and its sign)
WATCHED = {
    "attempts": (("started_at",), _seen),
    "similarity_matches": (("attempt_id", "other_kind"), _flag),
}


def _changed(table: str, distinct: str) -> str:
    if table == "attempts":
        return "(OLD.started_at IS NULL) <> (NEW.started_at IS NULL)"
    return f"OLD.attempt_id <> NEW.attempt_id OR OLD.other_kind {distinct} NEW.other_kind"


def trigger_names() -> list[tuple[str, str]]:
    return [
        (f"prompt_counts_{table}_{op_name}", table)
        for table in WATCHED
        for op_name in ("insert", "update", "delete")
    ]


def triggers(dialect: str) -> list[str]:
    """The statements that create the triggers on this dialect."""
    statements = []
    for table, (columns, contribution) in WATCHED.items():
        for op_name, rows in (
            ("insert", [("NEW", 1)]),
            ("update", [("OLD", -1), ("NEW", 1)]),
            ("delete", [("OLD", -1)]),
        ):
            name = f"prompt_counts_{table}_{op_name}"
            event = op_name.upper()
            when = ""
            if op_name == "update":
                event = f"UPDATE OF {', '.join(columns)}"
                distinct = "IS DISTINCT FROM" if dialect == "postgresql" else "IS NOT"
                when = f"WHEN ({_changed(table, distinct)})"
            body = "; ".join(s for row, sign in rows for s in contribution(row, sign))
            if dialect == "postgresql":
                statements.append(
                    f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    f"BEGIN {body}; RETURN NULL; END $$"
                )
                statements.append(
                    f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW {when} "
                    f"EXECUTE FUNCTION {name}()"
                )
            else:
                statements.append(
                    f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW {when} "
                    f"BEGIN {body}; END"
                )
    return statements


def _backfill() -> None:
    op.execute(
        "INSERT INTO answer_flags (attempt_id, kind, n) "
        f"SELECT attempt_id, kind, count(*) FROM (SELECT m.attempt_id, {_kind('m')} AS kind "
        "FROM similarity_matches m) x WHERE kind IS NOT NULL GROUP BY attempt_id, kind"
    )
    op.execute(
        "INSERT INTO prompt_counts (prompt_id, name, shard, n) "
        f"SELECT i.prompt_id, 'seen', a.id % {SHARDS}, count(*) "
        "FROM attempts a, invitations i "
        "WHERE i.id = a.invitation_id AND a.started_at IS NOT NULL "
        f"GROUP BY i.prompt_id, a.id % {SHARDS}"
    )
    op.execute(
        "INSERT INTO prompt_counts (prompt_id, name, shard, n) "
        f"SELECT i.prompt_id, f.kind, f.attempt_id % {SHARDS}, count(*) "
        "FROM answer_flags f, attempts a, invitations i "
        "WHERE a.id = f.attempt_id AND i.id = a.invitation_id "
        f"GROUP BY i.prompt_id, f.kind, f.attempt_id % {SHARDS}"
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "prompt_counts",
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("prompt_id", "name", "shard", name=op.f("pk_prompt_counts")),
    )
    op.create_table(
        "answer_flags",
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("attempt_id", "kind", name=op.f("pk_answer_flags")),
    )
    _backfill()
    for statement in triggers(dialect):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, table in trigger_names():
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("answer_flags")
    op.drop_table("prompt_counts")
