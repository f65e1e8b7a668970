"""idempotent autosaves

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 12:00:00

The attempt page sends an id with every save and keeps it for retries of the same
content. The id of the save that wrote the current revision is kept on the attempt, so
a retry of a committed save whose reply was lost is acknowledged as already saved
rather than refused as a change from another tab.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_save_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_column("last_save_id")
