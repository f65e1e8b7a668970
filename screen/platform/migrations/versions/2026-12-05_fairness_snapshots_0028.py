"""fairness snapshots: the adverse-impact page's figures, computed by a job

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-05 12:30:00

The adverse-impact figures need every submission of their scope (and an exact test per
group); computing them on every page view took the web process most of a second at 10k
invitations and grew with history. A job computes them and keeps one row per
computation; the page reads the latest of its scope.

Also an index on decisions.decided_at: the statistics pages count the decisions made since
their figures were computed, which must not scan every decision ever made.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fairness_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submissions", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fairness_snapshots")),
    )
    op.create_index("ix_fairness_snapshots_scope", "fairness_snapshots", ["scope", "computed_at"])
    op.create_index("ix_decisions_decided_at", "decisions", ["decided_at"])


def downgrade() -> None:
    op.drop_index("ix_decisions_decided_at", table_name="decisions")
    op.drop_index("ix_fairness_snapshots_scope", table_name="fairness_snapshots")
    op.drop_table("fairness_snapshots")
