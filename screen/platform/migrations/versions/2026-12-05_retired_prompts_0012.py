"""retired prompts

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 02:50:00

A lead can retire an exposed prompt version from rotation pools: `prompts.retired_at`.
Retirement is a state of the version that every pool must see (a pool edited later must
not take it back in), so it is a column of the prompt, not a deletion of pool rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("prompts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("prompts", schema=None) as batch_op:
        batch_op.drop_column("retired_at")
