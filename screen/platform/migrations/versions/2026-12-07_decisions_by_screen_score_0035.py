"""decisions by screen and score: the comparison report's first page without sorting history

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07 19:10:00

The screen's comparison report shows the first 200 decided candidates by weighted score.
The screen is known only through the attempt's invitation, so every view joined and
sorted every decided candidate of the screen before cutting to 200 (45 ms at 10,000
invitations, 274 ms at 200,000: `bench --scenario scale`). `decisions.screen_id` copies
the screen onto the decision, set by a trigger when the row is written (by the app or a
bulk load alike), and an index on (screen_id, weighted_score) hands the rows over in
score order: the page reads 200 of them, whatever the screen's history.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCREEN_OF = (
    "(SELECT i.screen_id FROM attempts a, invitations i "
    "WHERE a.id = {row}.attempt_id AND i.id = a.invitation_id)"
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("decisions", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("screen_id", sa.Integer(), nullable=True))
    op.execute(f"UPDATE decisions SET screen_id = {SCREEN_OF.format(row='decisions')}")
    op.create_index("ix_decisions_screen_score", "decisions", ["screen_id", "weighted_score"])
    if dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION decisions_screen() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN NEW.screen_id := {SCREEN_OF.format(row='NEW')}; RETURN NEW; END $$"
        )
        op.execute(
            "CREATE TRIGGER decisions_screen BEFORE INSERT OR UPDATE OF attempt_id "
            "ON decisions FOR EACH ROW EXECUTE FUNCTION decisions_screen()"
        )
    else:
        # SQLite's triggers cannot change the row being written: set it just after.
        for event in ("INSERT", "UPDATE OF attempt_id"):
            name = "decisions_screen_" + event.split()[0].lower()
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON decisions FOR EACH ROW BEGIN "
                f"UPDATE decisions SET screen_id = {SCREEN_OF.format(row='NEW')} "
                "WHERE id = NEW.id; END"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS decisions_screen ON decisions")
        op.execute("DROP FUNCTION IF EXISTS decisions_screen()")
    else:
        op.execute("DROP TRIGGER IF EXISTS decisions_screen_insert")
        op.execute("DROP TRIGGER IF EXISTS decisions_screen_update")
    op.drop_index("ix_decisions_screen_score", table_name="decisions")
    with op.batch_alter_table("decisions", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("screen_id")
