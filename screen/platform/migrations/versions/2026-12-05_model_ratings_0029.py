"""model ratings: a model rater's ratings, kept apart from the human reviews

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-05 12:30:00

A model rates answers as one more rater (docs/model-rater.md). Its ratings live in
their own table so no query that decides can count them, and its calibration on a
prompt's exemplars is recorded beside them. An admin's waiver of the validity rule for a
model on a prompt (audited) has a table of its own.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rater", sa.String(length=120), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("prompt_slug", sa.String(length=100), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=True),
        sa.Column("exemplar_key", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("ratings", sa.JSON(), nullable=True),
        sa.Column("weighted_score", sa.Float(), nullable=True),
        sa.Column("calibration_share", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("latency_seconds", sa.Float(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("check_active", sa.Boolean(), nullable=False),
        sa.Column("check_margin", sa.Float(), nullable=True),
        sa.Column("check_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_model_ratings_prompt_id_prompts")
        ),
        sa.ForeignKeyConstraint(
            ["attempt_id"], ["attempts.id"], name=op.f("fk_model_ratings_attempt_id_attempts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_ratings")),
        sa.UniqueConstraint("rater", "attempt_id", name="uq_model_ratings_rater_attempt"),
        sa.UniqueConstraint(
            "rater", "prompt_id", "exemplar_key", name="uq_model_ratings_rater_exemplar"
        ),
    )
    op.create_index("ix_model_ratings_slug", "model_ratings", ["prompt_slug", "rater"])
    op.create_table(
        "model_validity_waivers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rater", sa.String(length=120), nullable=False),
        sa.Column("prompt_slug", sa.String(length=100), nullable=False),
        sa.Column("waived_by_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["waived_by_id"], ["users.id"], name=op.f("fk_model_validity_waivers_waived_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_validity_waivers")),
        sa.UniqueConstraint("rater", "prompt_slug", name="uq_model_validity_waivers_pair"),
    )


def downgrade() -> None:
    op.drop_table("model_validity_waivers")
    op.drop_index("ix_model_ratings_slug", table_name="model_ratings")
    op.drop_table("model_ratings")
