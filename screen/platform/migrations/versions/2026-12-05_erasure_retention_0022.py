"""erasure and retention

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 10:00:00

`invitations.erased_at` marks a candidate whose personal data was erased (on request or
by the retention policy); the row stays as an anonymous placeholder so counts and
statistics hold. The organisation row gains the retention policy an admin may set
(None: the deployment's SCREEN_RETAIN_* settings). The audit log gets an index on its
subject, which erasure scrubs by and every invitation's history reads by.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("invitations", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("organisation_settings", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("retain_decided_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("retain_unused_days", sa.Integer(), nullable=True))
    op.create_index(
        "ix_audit_events_subject", "audit_events", ["subject_type", "subject_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_audit_events_subject", table_name="audit_events")
    with op.batch_alter_table("organisation_settings", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("retain_unused_days")
        batch_op.drop_column("retain_decided_days")
    with op.batch_alter_table("invitations", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("erased_at")
