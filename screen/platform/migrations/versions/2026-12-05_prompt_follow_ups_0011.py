"""a prompt version's follow-up questions

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 03:00:00

A prompt file may define one to three follow-up questions about the candidate's own
answer. They are part of the immutable version (the file's bytes are already in its
content hash), so they are stored on the version beside its rubric; NULL means none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("prompts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("follow_ups", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("prompts", schema=None) as batch_op:
        batch_op.drop_column("follow_ups")
