"""decisions score ties: the comparison report's first page read whole from one index

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07 19:25:00

Weighted scores take few values (means of levels 1 to 4), so a screen with years of
history has tens of thousands of candidates on its best score (59,674 of 155,099 decided
in `bench --scenario scale` at 200,000 invitations). With ties broken by name, the first
page still sorted that whole group: 815 ms. Ties on the score are now broken by the
attempt, newest first, and this index (screen, weighted score, attempt) hands over the
first 200 rows in that exact order. It replaces 0035's (screen, weighted score), which it
serves too.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_decisions_screen_score_attempt",
        "decisions",
        ["screen_id", "weighted_score", "attempt_id"],
    )
    op.drop_index("ix_decisions_screen_score", table_name="decisions")


def downgrade() -> None:
    op.create_index("ix_decisions_screen_score", "decisions", ["screen_id", "weighted_score"])
    op.drop_index("ix_decisions_screen_score_attempt", table_name="decisions")
