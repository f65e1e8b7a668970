"""flat retention and band lookups: indexes that reach what is due, and a covering band index

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-08 01:20:00

Retention's selection (the daily run's batches, the admin's dry run and its capped counts)
walked invitations in id order and joined each attempt to test the rule, so it read every
candidate before the first due one: the recent ones not yet due, and, once retention has
run for a while, every erased one. Each rule now has a partial index that holds only
candidates it may still erase, in the order they fall due:

- ended screens: attempts by `state_changed_at` where the state is ended and the attempt
  is not erased (`attempts.erased`, new, set by the erasure, since the invitation's
  `erased_at` is on another table and a partial index can only see its own);
- links never used: invitations by `expires_at` where not erased.

The similar-answer check counts the bands each other answer shares; the band lookup now
carries the attempt too, so the count is read from the index alone instead of fetching
one table row per sharer (2,492 of them per check at 200,000 invitations).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENDED = "state IN ('passed', 'failed', 'withdrawn') AND NOT erased"
UNERASED = "erased_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("attempts", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("erased", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute(
        "UPDATE attempts SET erased = true WHERE invitation_id IN "
        "(SELECT id FROM invitations WHERE erased_at IS NOT NULL)"
    )
    # Recreating the table on SQLite would drop the counters' triggers: columns are added
    # and dropped in place (SQLite 3.35+ drops a column that no index names).
    op.create_index(
        "ix_attempts_retention_ended",
        "attempts",
        ["state_changed_at", "invitation_id"],
        postgresql_where=sa.text(ENDED),
        sqlite_where=sa.text(ENDED),
    )
    op.create_index(
        "ix_invitations_retention_unused",
        "invitations",
        ["expires_at", "id"],
        postgresql_where=sa.text(UNERASED),
        sqlite_where=sa.text(UNERASED),
    )
    op.create_index(
        "ix_answer_bands_match", "answer_bands", ["prompt_slug", "band", "hash", "attempt_id"]
    )
    op.drop_index("ix_answer_bands_lookup", table_name="answer_bands")


def downgrade() -> None:
    op.create_index("ix_answer_bands_lookup", "answer_bands", ["prompt_slug", "band", "hash"])
    op.drop_index("ix_answer_bands_match", table_name="answer_bands")
    op.drop_index("ix_invitations_retention_unused", table_name="invitations")
    op.drop_index("ix_attempts_retention_ended", table_name="attempts")
    with op.batch_alter_table("attempts", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("erased")
