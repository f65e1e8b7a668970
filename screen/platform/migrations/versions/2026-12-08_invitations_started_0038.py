"""invitations.started_at: retention's "never used" index holds only links never started

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-08 02:00:00

The "never used" rule's index (0037) held every unerased link by expiry, started or not,
so the privacy page's capped count read about five expired links for each unused one (the
started ones, filtered by joining their attempt): 1,000 due meant some 5,000 rows, and in
steady use, with retention erasing what is due every day, it would read every started link
of the retention window. The attempt's start is copied onto its invitation when it starts,
and the index leaves started links out.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNUSED = "erased_at IS NULL AND started_at IS NULL"
UNERASED = "erased_at IS NULL"


def upgrade() -> None:
    # In place on SQLite too (see 0037: recreating the table would drop the counters' triggers).
    with op.batch_alter_table("invitations", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE invitations SET started_at = (SELECT attempts.started_at FROM attempts "
        "WHERE attempts.invitation_id = invitations.id) WHERE id IN "
        "(SELECT invitation_id FROM attempts WHERE started_at IS NOT NULL)"
    )
    op.drop_index("ix_invitations_retention_unused", table_name="invitations")
    op.create_index(
        "ix_invitations_retention_unused",
        "invitations",
        ["expires_at", "id"],
        postgresql_where=sa.text(UNUSED),
        sqlite_where=sa.text(UNUSED),
    )


def downgrade() -> None:
    op.drop_index("ix_invitations_retention_unused", table_name="invitations")
    op.create_index(
        "ix_invitations_retention_unused",
        "invitations",
        ["expires_at", "id"],
        postgresql_where=sa.text(UNERASED),
        sqlite_where=sa.text(UNERASED),
    )
    with op.batch_alter_table("invitations", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("started_at")
