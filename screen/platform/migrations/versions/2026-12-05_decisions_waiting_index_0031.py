"""decisions waiting index: the lead's adjudication list without a scan of all decisions

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-05 16:50:00

The lead's home lists the answers waiting for adjudication, a handful at any time; found
by `outcome = 'needs_adjudication'` with no index, every view scanned every decision ever
made (21 ms at 200,000 invitations and growing with history: `bench --scenario scale`).
A partial index holds only the waiting ones.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHERE = sa.text("outcome = 'needs_adjudication'")


def upgrade() -> None:
    op.create_index(
        "ix_decisions_waiting",
        "decisions",
        ["decided_at"],
        postgresql_where=WHERE,
        sqlite_where=WHERE,
    )


def downgrade() -> None:
    op.drop_index("ix_decisions_waiting", table_name="decisions")
