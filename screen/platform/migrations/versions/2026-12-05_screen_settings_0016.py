"""screen settings: reviewer pool, stricter pass threshold

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 09:00:00

Screens configured in the UI:

- `screen_reviewers`: a screen's reviewer pool (empty: every reviewer may review it).
- `reviews.screen_id`: the screen of the slot's attempt, copied when the slot opens, so
  the claim checks the pool with two probes of `uq_screen_reviewers` instead of joining
  attempts and invitations per scanned row. Backfilled for existing slots.
- `screens.pass_threshold`: a pass threshold stricter than the rubric's (nullable: none).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "screen_reviewers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("screen_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["screen_id"], ["screens.id"], name=op.f("fk_screen_reviewers_screen_id_screens")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_screen_reviewers_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screen_reviewers")),
        sa.UniqueConstraint("screen_id", "user_id", name=op.f("uq_screen_reviewers")),
    )
    with op.batch_alter_table("screen_reviewers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_screen_reviewers_user_id"), ["user_id"], unique=False
        )
    with op.batch_alter_table("screens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pass_threshold", sa.Float(), nullable=True))
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.add_column(sa.Column("screen_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_reviews_screen_id_screens"), "screens", ["screen_id"], ["id"]
        )
    op.execute(
        "UPDATE reviews SET screen_id = (SELECT i.screen_id FROM attempts a "
        "JOIN invitations i ON i.id = a.invitation_id WHERE a.id = reviews.attempt_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_reviews_screen_id_screens"), type_="foreignkey")
        batch_op.drop_column("screen_id")
    with op.batch_alter_table("screens", schema=None) as batch_op:
        batch_op.drop_column("pass_threshold")
    with op.batch_alter_table("screen_reviewers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_screen_reviewers_user_id"))
    op.drop_table("screen_reviewers")
