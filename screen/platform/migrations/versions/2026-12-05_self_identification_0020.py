"""voluntary self-identification, kept apart from the work

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 10:00:00

One row per invitation at most, written only after the candidate submitted and only if
they chose to answer: `answers` maps a category key to an option key. It lives in its
own table so nothing that reads attempts, reviews or decisions can pick it up by
accident, and it goes with the invitation when that is erased (ON DELETE CASCADE).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "self_identifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invitation_id", sa.Integer(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["invitations.id"],
            name=op.f("fk_self_identifications_invitation_id_invitations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_self_identifications")),
        sa.UniqueConstraint("invitation_id", name=op.f("uq_self_identifications_invitation_id")),
    )


def downgrade() -> None:
    op.drop_table("self_identifications")
