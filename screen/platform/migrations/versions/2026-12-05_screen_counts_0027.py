"""screen counts: the dashboard's figures kept up to date instead of counted per view

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-05 12:50:00

The recruiter dashboard counted every candidate of a screen on each view (states,
funnel, decision times) and paged with COUNT(*) and OFFSET, so at 200,000 invitations a
view took two seconds. Now:

- `screen_counts` holds, per screen, how many candidates are in each attempt state, how
  many opened, started, submitted, were decided and passed, how many drew each prompt of
  a rotation pool, and how many decisions fell in each bin of business days to decision. Triggers on attempts, invitations and
  decisions keep it in the transaction of every change, whichever code (or bulk load)
  makes it; the rows are spread over 8 shards by id so that concurrent changes of one
  screen (claims, submits) rarely wait on the same counter row.
- `decisions.days_to_decision` stores the business days from invitation to the final
  decision, computed once when the decision becomes final (SQL cannot count business
  days portably), so the chart's bins can be counted.
- Indexes serve the candidates table's keyset pages (newest first) and, on
  PostgreSQL, its search (pg_trgm over name, email and external id; SQLite scans).
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

from reviewers.sla import business_days_between
from screen.platform.db import UTCDateTime

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARDS = 8
# Lower bounds of the chart's bins (screen.recruiting.dashboard.TIME_BINS).
BINS = (10, 5, 3, 2, 1)
SEARCH = (
    "lower(candidate_name || ' ' || candidate_email || ' ' || coalesce(external_id, ''))"
)


def _bin(value: str) -> str:
    cases = " ".join(f"WHEN {value} >= {low} THEN '{low}'" for low in BINS)
    return f"CASE {cases} ELSE '0' END"


def _contributions(row: str) -> dict[str, list[tuple[str, str, str]]]:
    """Per table: (counter name, shard, condition) of one row, as SQL over `row`."""
    final = f"{row}.outcome IN ('pass', 'fail')"
    return {
        "attempts": [
            (f"'state:' || {row}.state", f"{row}.id % {SHARDS}", "1 = 1"),
            ("'started'", f"{row}.id % {SHARDS}", f"{row}.started_at IS NOT NULL"),
            ("'submitted'", f"{row}.id % {SHARDS}", f"{row}.submitted_at IS NOT NULL"),
        ],
        "invitations": [
            ("'opened'", f"{row}.id % {SHARDS}", f"{row}.opened_at IS NOT NULL"),
            (f"'prompt:' || {row}.prompt_id", f"{row}.id % {SHARDS}", "1 = 1"),
        ],
        "decisions": [
            ("'decided'", f"{row}.attempt_id % {SHARDS}", final),
            ("'passed'", f"{row}.attempt_id % {SHARDS}", f"{row}.outcome = 'pass'"),
            (
                f"'days:' || {_bin(f'{row}.days_to_decision')}",
                f"{row}.attempt_id % {SHARDS}",
                f"{final} AND {row}.days_to_decision >= 0",
            ),
        ],
    }


def _screen(table: str, row: str) -> str:
    if table == "invitations":
        return f"{row}.screen_id"
    if table == "attempts":
        return f"(SELECT s.screen_id FROM invitations s WHERE s.id = {row}.invitation_id)"
    return (
        "(SELECT s.screen_id FROM attempts a, invitations s "
        f"WHERE a.id = {row}.attempt_id AND s.id = a.invitation_id)"
    )


WATCHED = {
    "attempts": ("state", "started_at", "submitted_at"),
    "invitations": ("opened_at",),
    "decisions": ("outcome", "days_to_decision"),
}


def _upsert(table: str, rows: Sequence[tuple[str, int]]) -> str:
    parts = [
        f"SELECT {_screen(table, row)} AS screen_id, {name} AS name, {shard} AS shard, "
        f"{sign} AS delta WHERE {condition}"
        for row, sign in rows
        for name, shard, condition in _contributions(row)[table]
    ]
    return (
        "INSERT INTO screen_counts (screen_id, name, shard, n) "
        "SELECT screen_id, name, shard, sum(delta) FROM ("
        + " UNION ALL ".join(parts)
        + ") d WHERE screen_id IS NOT NULL GROUP BY screen_id, name, shard "
        "HAVING sum(delta) <> 0 "
        "ON CONFLICT (screen_id, name, shard) DO UPDATE SET n = screen_counts.n + excluded.n"
    )


def _changed(table: str, distinct: str) -> str:
    tests = []
    for column in WATCHED[table]:
        if column in ("state", "outcome", "days_to_decision"):
            tests.append(f"OLD.{column} {distinct} NEW.{column}")
        else:
            tests.append(f"(OLD.{column} IS NULL) <> (NEW.{column} IS NULL)")
    return " OR ".join(tests)


def triggers(dialect: str) -> list[str]:
    """The statements that create the triggers on this dialect."""
    statements = []
    for table in WATCHED:
        for op_name, rows in (
            ("insert", [("NEW", 1)]),
            ("update", [("OLD", -1), ("NEW", 1)]),
            ("delete", [("OLD", -1)]),
        ):
            name = f"screen_counts_{table}_{op_name}"
            when = ""
            event = op_name.upper()
            if op_name == "update":
                event = f"UPDATE OF {', '.join(WATCHED[table])}"
                distinct = "IS DISTINCT FROM" if dialect == "postgresql" else "IS NOT"
                when = f"WHEN ({_changed(table, distinct)})"
            body = _upsert(table, rows)
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


def _backfill_days() -> None:
    bind = op.get_bind()
    decisions = sa.table(
        "decisions",
        sa.column("id", sa.Integer),
        sa.column("attempt_id", sa.Integer),
        sa.column("outcome", sa.String),
        sa.column("decided_at", UTCDateTime),
        sa.column("adjudicated_at", UTCDateTime),
        sa.column("days_to_decision", sa.Float),
    )
    attempts = sa.table("attempts", sa.column("id", sa.Integer), sa.column("invitation_id"))
    invitations = sa.table(
        "invitations", sa.column("id", sa.Integer), sa.column("created_at", UTCDateTime)
    )
    rows = bind.execute(
        sa.select(
            decisions.c.id,
            invitations.c.created_at,
            decisions.c.decided_at,
            decisions.c.adjudicated_at,
        )
        .select_from(decisions)
        .join(attempts, attempts.c.id == decisions.c.attempt_id)
        .join(invitations, invitations.c.id == attempts.c.invitation_id)
        .where(decisions.c.outcome.in_(("pass", "fail")))
    ).all()
    values = [
        {"key": id_, "days": days_to_decision(invited, adjudicated or decided)}
        for id_, invited, decided, adjudicated in rows
    ]
    if values:
        bind.execute(
            decisions.update()
            .where(decisions.c.id == sa.bindparam("key"))
            .values(days_to_decision=sa.bindparam("days")),
            values,
        )


def days_to_decision(invited: datetime, decided: datetime) -> float:
    return round(business_days_between(invited, decided), 2)


def _backfill_counts() -> None:
    for table in WATCHED:
        for name, shard, condition in _contributions("t")[table]:
            screen = _screen(table, "t")
            op.execute(
                "INSERT INTO screen_counts (screen_id, name, shard, n) "
                f"SELECT sc, nm, sh, count(*) FROM (SELECT {screen} AS sc, {name} AS nm, "
                f"{shard} AS sh FROM {table} t WHERE {condition}) x "
                "WHERE sc IS NOT NULL GROUP BY sc, nm, sh "
                "ON CONFLICT (screen_id, name, shard) DO UPDATE SET n = screen_counts.n + excluded.n"
            )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("decisions", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("days_to_decision", sa.Float(), nullable=True))
    _backfill_days()
    op.create_table(
        "screen_counts",
        sa.Column("screen_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("screen_id", "name", "shard", name=op.f("pk_screen_counts")),
    )
    _backfill_counts()
    for statement in triggers(dialect):
        op.execute(statement)
    op.create_index(
        "ix_invitations_screen_created", "invitations", ["screen_id", "created_at", "id"]
    )
    if dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            f"CREATE INDEX ix_invitations_search ON invitations USING gin ({SEARCH} gin_trgm_ops)"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_invitations_search")
    op.drop_index("ix_invitations_screen_created", table_name="invitations")
    for table in WATCHED:
        for op_name in ("insert", "update", "delete"):
            name = f"screen_counts_{table}_{op_name}"
            if dialect == "postgresql":
                op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
                op.execute(f"DROP FUNCTION IF EXISTS {name}()")
            else:
                op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("screen_counts")
    with op.batch_alter_table("decisions", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("days_to_decision")
