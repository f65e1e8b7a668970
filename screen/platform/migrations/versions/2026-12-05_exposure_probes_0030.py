"""exposure probes: a model's own answers to a prompt, stored as leaks and scored apart

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-05 15:30:00

A lead asks the configured model for answers written as a candidate would
(docs/model-rater.md, "Prompt exposure probe"). Each answer is a leaked answer of the
prompt (so the similarity check flags a pasted one) and the model's rating of it lives
here, apart from `model_ratings`, so it never counts in agreement or decisions.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exposure_probes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("prompt_slug", sa.String(length=100), nullable=False),
        sa.Column("rater", sa.String(length=120), nullable=False),
        sa.Column("answers_wanted", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_exposure_probes_prompt_id_prompts")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_exposure_probes_requested_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exposure_probes")),
    )
    op.create_index("ix_exposure_probes_slug", "exposure_probes", ["prompt_slug", "id"])
    op.create_table(
        "probe_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("probe_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("leak_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("ratings", sa.JSON(), nullable=True),
        sa.Column("weighted_score", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("latency_seconds", sa.Float(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["probe_id"],
            ["exposure_probes.id"],
            name=op.f("fk_probe_answers_probe_id_exposure_probes"),
        ),
        sa.ForeignKeyConstraint(
            ["leak_id"], ["leaked_answers.id"], name=op.f("fk_probe_answers_leak_id_leaked_answers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_probe_answers")),
        sa.UniqueConstraint("probe_id", "seq", name="uq_probe_answers_probe_seq"),
    )


def downgrade() -> None:
    op.drop_table("probe_answers")
    op.drop_index("ix_exposure_probes_slug", table_name="exposure_probes")
    op.drop_table("exposure_probes")
