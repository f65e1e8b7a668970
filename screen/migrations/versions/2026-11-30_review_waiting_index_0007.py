"""review queue: a partial index in "review next" order over open and claimed slots

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = sa.text("status IN ('open', 'claimed')")


def upgrade() -> None:
    op.create_index(
        "ix_reviews_waiting",
        "reviews",
        ["due_at", "queued_at", "id"],
        unique=False,
        postgresql_where=WAITING,
        sqlite_where=WAITING,
    )


def downgrade() -> None:
    op.drop_index("ix_reviews_waiting", table_name="reviews")
