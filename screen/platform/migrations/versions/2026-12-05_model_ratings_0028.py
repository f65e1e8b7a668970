"""model ratings: a model rater's ratings, kept apart from the human reviews

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-05 12:30:00

A model rates answers as one more rater (docs/model-rater.md). Its ratings live in
their own table so no query that decides can count them, and its calibration on a
prompt's exemplars is recorded beside them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
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


def downgrade() -> None:
    op.drop_index("ix_model_ratings_slug", table_name="model_ratings")
    op.drop_table("model_ratings")
