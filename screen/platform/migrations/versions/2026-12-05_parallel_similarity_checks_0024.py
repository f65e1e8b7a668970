"""parallel similarity checks: one match row per side of a pair

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 12:40:00

Checks of one prompt no longer wait for each other behind a per-prompt lock: each
indexes its answer, commits, then looks for the others, so two checks running at once
can both find their pair. A unique index on (attempt, other attempt) keeps one row per
side; the second writer updates it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHERE = sa.text("other_kind = 'attempt'")


def upgrade() -> None:
    # Under the old lock a pair could still be recorded twice by a check run twice
    # concurrently with its partner's; keep the newest row of each side.
    op.execute(
        "DELETE FROM similarity_matches WHERE other_kind = 'attempt' AND id NOT IN ("
        "SELECT max(id) FROM similarity_matches WHERE other_kind = 'attempt' "
        "GROUP BY attempt_id, other_attempt_id)"
    )
    op.create_index(
        "ux_similarity_matches_pair",
        "similarity_matches",
        ["attempt_id", "other_attempt_id"],
        unique=True,
        postgresql_where=WHERE,
        sqlite_where=WHERE,
    )


def downgrade() -> None:
    op.drop_index("ux_similarity_matches_pair", table_name="similarity_matches")
