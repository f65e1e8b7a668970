"""staff links, last sign-in and re-authentication

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 09:30:00

Admins manage staff accounts from the web:

- `staff_links`: single-use links emailed to staff, an invitation to set a first
  password or a password reset; only the token's SHA-256 is kept.
- `users.last_signed_in_at`: shown on the admin's list of accounts.
- `user_sessions.authenticated_at`: when the browser last proved the password, for the
  admin actions that ask for it again after 15 minutes (NULL: at the session's start).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=400), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(op.f("ix_staff_links_user_id"), "staff_links", ["user_id"], unique=False)
    # Added in place: SQLite's copy-and-rename of `users` would take the rows that refer
    # to it along (see 0018).
    with op.batch_alter_table("users", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("last_signed_in_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("user_sessions", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("authenticated_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("user_sessions", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("authenticated_at")
    with op.batch_alter_table("users", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("last_signed_in_at")
    op.drop_index(op.f("ix_staff_links_user_id"), table_name="staff_links")
    op.drop_table("staff_links")
