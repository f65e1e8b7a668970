"""agreement snapshots: the agreement page's figures, computed by a job

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 10:30:00

The bootstrap intervals need all of a prompt's history; computing them on every page
view took the web process half a minute at 10k invitations. A job computes them and
keeps one row per computation; the page reads the latest of its scope.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agreement_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decisions", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_snapshots")),
    )
    op.create_index(
        "ix_agreement_snapshots_scope", "agreement_snapshots", ["scope", "computed_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_agreement_snapshots_scope", table_name="agreement_snapshots")
    op.drop_table("agreement_snapshots")
