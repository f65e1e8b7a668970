"""several roles per account

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 09:00:00

An account may hold several roles (a recruiter who is also the team's admin, a lead who
also reviews): `users.role` becomes rows of `user_roles`, one per role held. Each
existing account keeps exactly the role it had. Downgrading keeps one role per account,
the first of admin, recruiter, hiring_manager, lead, reviewer it holds.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DOWNGRADE_PRECEDENCE = ("admin", "recruiter", "hiring_manager", "lead", "reviewer")


def upgrade() -> None:
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "role"),
    )
    op.create_index(op.f("ix_user_roles_role"), "user_roles", ["role"], unique=False)
    op.execute("INSERT INTO user_roles (user_id, role) SELECT id, role FROM users")
    # SQLite (3.35+) drops the column in place. Batch mode's copy-and-rename would drop
    # `users`, and with foreign keys on that deletes every row referring to it: the new
    # roles, sessions, and it is refused outright once reviews exist.
    with op.batch_alter_table("users", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("role")


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=20), nullable=True))
    for role in reversed(DOWNGRADE_PRECEDENCE):
        op.execute(
            "UPDATE users SET role = '" + role + "' WHERE id IN "
            "(SELECT user_id FROM user_roles WHERE role = '" + role + "')"
        )
    # Left nullable on the way down: making it NOT NULL again would need SQLite's
    # copy-and-rename, the very thing the upgrade avoids.
    op.execute("UPDATE users SET role = 'reviewer' WHERE role IS NULL")
    op.drop_index(op.f("ix_user_roles_role"), table_name="user_roles")
    op.drop_table("user_roles")
