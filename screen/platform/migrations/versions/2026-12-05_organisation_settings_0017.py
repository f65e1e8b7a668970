"""organisation settings: the employer's name, logo, accent and contacts for candidates

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 09:00:00

- `organisation_settings`: one row (id 1) an admin edits on /admin/organisation; no row
  keeps Screen's own look, so existing deployments change nothing until an admin acts.
- `invitations.contact_user_id`: the recruiter who chose to be named as the candidate's
  contact when inviting (NULL: the organisation's contact line only).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organisation_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("accent", sa.String(length=7), nullable=True),
        sa.Column("mail_sender_name", sa.String(length=100), nullable=True),
        sa.Column("reply_to", sa.String(length=320), nullable=True),
        sa.Column("contact_line", sa.String(length=200), nullable=True),
        sa.Column("privacy_url", sa.String(length=500), nullable=True),
        sa.Column("logo", sa.LargeBinary(), nullable=True),
        sa.Column("logo_type", sa.String(length=20), nullable=True),
        sa.Column("logo_sha256", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_by", sa.String(length=400), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation_settings")),
    )
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_user_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_invitations_contact_user_id_users"),
            "users",
            ["contact_user_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_invitations_contact_user_id_users"), type_="foreignkey"
        )
        batch_op.drop_column("contact_user_id")
    op.drop_table("organisation_settings")
