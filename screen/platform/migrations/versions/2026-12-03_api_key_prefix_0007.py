"""longer API key prefix

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 18:15:00

The shown prefix had two random characters after `sk_screen_` (4,096 values): keys
looked alike after a few dozen. It now keeps eight (48 bits). Existing rows keep the
prefix they were created with.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.alter_column(
            "prefix", existing_type=sa.String(length=12), type_=sa.String(length=20)
        )


def downgrade() -> None:
    # Newer prefixes are 18 characters: cut them to fit (it is only a display aid).
    op.execute("UPDATE api_keys SET prefix = substr(prefix, 1, 12)")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.alter_column(
            "prefix", existing_type=sa.String(length=20), type_=sa.String(length=12)
        )
