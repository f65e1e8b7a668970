"""decisions adjudicated index: the answers a lead adjudicated since a snapshot

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 19:10:00

A decision waiting for adjudication is not a human decision, so a model's figures count
its answer only once a lead decides it. The agreement page and the hourly refresh then
ask which answers were adjudicated since the prompt's snapshot; a partial index on
adjudicated_at holds only the adjudicated decisions, a few among all history.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_decisions_adjudicated_at",
        "decisions",
        ["adjudicated_at"],
        postgresql_where=sa.text("adjudicated_at IS NOT NULL"),
        sqlite_where=sa.text("adjudicated_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_decisions_adjudicated_at", table_name="decisions")
