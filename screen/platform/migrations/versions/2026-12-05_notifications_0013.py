"""notifications: time zones, opt-outs, once-per-period keys, per-screen chat hooks

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 06:00:00

Reviewers and leads get a daily digest, SLA nudges and a lead's list by email (and a
screen's chat channel the same, if an admin sets a URL). Each user has a time zone (NULL:
SCREEN_NOTIFY_TIME_ZONE) and a switch per kind, on by default (server defaults, so
existing rows and bench seeds need nothing). `notifications_sent.key` is unique: one row
per person and period handled (with the outbox event queued, or none when there was
nothing to say) is what makes "at most once" hold whatever runs the sweep.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))
        for name in ("notify_digest", "notify_nudge", "notify_lead"):
            batch_op.add_column(
                sa.Column(name, sa.Boolean(), server_default=sa.true(), nullable=False)
            )
    op.create_table(
        "notifications_sent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("screen_id", sa.Integer(), nullable=True),
        sa.Column("outbox_event_id", sa.Integer(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notifications_sent_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["screen_id"],
            ["screens.id"],
            name=op.f("fk_notifications_sent_screen_id_screens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications_sent")),
        sa.UniqueConstraint("key", name=op.f("uq_notifications_sent_key")),
    )
    op.create_table(
        "screen_chat_hooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("screen_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("set_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["screen_id"],
            ["screens.id"],
            name=op.f("fk_screen_chat_hooks_screen_id_screens"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["set_by_id"],
            ["users.id"],
            name=op.f("fk_screen_chat_hooks_set_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screen_chat_hooks")),
        sa.UniqueConstraint("screen_id", name=op.f("uq_screen_chat_hooks_screen_id")),
    )


def downgrade() -> None:
    op.drop_table("screen_chat_hooks")
    op.drop_table("notifications_sent")
    with op.batch_alter_table("users", schema=None) as batch_op:
        for name in ("notify_lead", "notify_nudge", "notify_digest", "time_zone"):
            batch_op.drop_column(name)
