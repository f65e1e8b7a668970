"""csv column mapping

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 06:00:00

CSV imports map an ATS export's columns ("First Name", "Email Address", "Candidate ID")
to what an invitation needs, and the recruiter may reassign them on the preview:

- `screens.csv_mappings`: the mapping last used per header set on this screen, so the
  next export of the same shape arrives pre-mapped (JSON, nullable: no mapping yet).
- `invitation_imports.source`: the upload's text, kept until it is confirmed so a
  reassigned column can be read again without a second upload (cleared on confirm).
- `invitation_imports.mapping`: the role of each column the preview was checked with.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("screens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("csv_mappings", sa.JSON(), nullable=True))
    with op.batch_alter_table("invitation_imports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("mapping", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invitation_imports", schema=None) as batch_op:
        batch_op.drop_column("mapping")
        batch_op.drop_column("source")
    with op.batch_alter_table("screens", schema=None) as batch_op:
        batch_op.drop_column("csv_mappings")
