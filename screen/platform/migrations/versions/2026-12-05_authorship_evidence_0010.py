"""authorship evidence

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 02:26:46

Issue 16's schema in one step: the screen's AI-use policy and the attempt's copy of it
(acknowledged at Start, with the disclosure); the composition record (batches stored with
the draft saves that carried them); follow-up questions with their own clocks; and prompt
rotation (a screen's pool, and the prompt each invitation drew, backfilled from its
screen so every existing candidate keeps the prompt they had).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "screen_prompt_pool",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("screen_id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_screen_prompt_pool_prompt_id_prompts")
        ),
        sa.ForeignKeyConstraint(
            ["screen_id"], ["screens.id"], name=op.f("fk_screen_prompt_pool_screen_id_screens")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screen_prompt_pool")),
        sa.UniqueConstraint("screen_id", "prompt_id", name="uq_screen_prompt_pool"),
    )
    with op.batch_alter_table("screen_prompt_pool", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_screen_prompt_pool_screen_id"), ["screen_id"], unique=False
        )

    op.create_table(
        "composition_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["attempt_id"], ["attempts.id"], name=op.f("fk_composition_batches_attempt_id_attempts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_composition_batches")),
        sa.UniqueConstraint("attempt_id", "seq", name="uq_composition_batches_attempt_seq"),
    )
    op.create_table(
        "follow_up_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("limit_seconds", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("draft", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("last_save_id", sa.String(length=64), nullable=True),
        sa.Column("draft_saved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("final_answer", sa.Text(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=20), nullable=True),
        sa.Column("paste_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["attempt_id"], ["attempts.id"], name=op.f("fk_follow_up_answers_attempt_id_attempts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_up_answers")),
        sa.UniqueConstraint("attempt_id", "position", name="uq_follow_up_answers_attempt_position"),
    )
    with op.batch_alter_table("follow_up_answers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_follow_up_answers_deadline", ["submitted_at", "deadline"], unique=False
        )

    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ai_policy", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("ai_policy_version", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("ai_acknowledged_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("ai_disclosure", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("ai_conversation", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("composition_seq", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("composition_bytes", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("composition_capped_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("follow_ups_ended_at", sa.DateTime(timezone=True), nullable=True)
        )

    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prompt_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE invitations SET prompt_id = "
        "(SELECT screens.prompt_id FROM screens WHERE screens.id = invitations.screen_id)"
    )
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.alter_column("prompt_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f("ix_invitations_prompt_id"), ["prompt_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_invitations_prompt_id_prompts"), "prompts", ["prompt_id"], ["id"]
        )

    with op.batch_alter_table("late_content", schema=None) as batch_op:
        batch_op.add_column(sa.Column("follow_up_position", sa.Integer(), nullable=True))

    with op.batch_alter_table("screens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ai_policy", sa.String(length=20), server_default="no_ai", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("screens", schema=None) as batch_op:
        batch_op.drop_column("ai_policy")

    with op.batch_alter_table("late_content", schema=None) as batch_op:
        batch_op.drop_column("follow_up_position")

    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_invitations_prompt_id_prompts"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_invitations_prompt_id"))
        batch_op.drop_column("prompt_id")

    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_column("follow_ups_ended_at")
        batch_op.drop_column("composition_capped_at")
        batch_op.drop_column("composition_bytes")
        batch_op.drop_column("composition_seq")
        batch_op.drop_column("ai_conversation")
        batch_op.drop_column("ai_disclosure")
        batch_op.drop_column("ai_acknowledged_at")
        batch_op.drop_column("ai_policy_version")
        batch_op.drop_column("ai_policy")

    with op.batch_alter_table("follow_up_answers", schema=None) as batch_op:
        batch_op.drop_index("ix_follow_up_answers_deadline")

    op.drop_table("follow_up_answers")
    op.drop_table("composition_batches")
    with op.batch_alter_table("screen_prompt_pool", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_screen_prompt_pool_screen_id"))

    op.drop_table("screen_prompt_pool")
