"""prompt versions from the browser

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 09:00:00

Leads and admins upload or edit a prompt in the browser; each save is a new immutable
version, and the folder sync must leave those alone:

- `prompts.source`: `folder` (synced from prompts/) or `ui`; every existing version came
  from the folder.
- `prompts.created_by`: the email of whoever saved a `ui` version.
- `prompts.source_text`: the prompt file's text as checked, so an edit starts from it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("prompts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=10), server_default="folder", nullable=False)
        )
        batch_op.add_column(sa.Column("created_by", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("source_text", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("prompts", schema=None) as batch_op:
        batch_op.drop_column("source_text")
        batch_op.drop_column("created_by")
        batch_op.drop_column("source")
