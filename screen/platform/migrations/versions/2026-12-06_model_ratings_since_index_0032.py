"""model ratings since index: which of a model's ratings a prompt's snapshot lacks

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06 18:50:00

The agreement page and the hourly refresh ask how many of a model's ratings of decided
answers came after the prompt's latest snapshot (a model rates after the humans decide,
so its figures go stale without a decision since). On (prompt_slug, rater) alone that
count reads every rating the model ever made of the prompt; with created_at in the key
it reads only the new ones. The new index starts with the old one's columns, so it
serves the old one's queries too and replaces it.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_model_ratings_slug_created",
        "model_ratings",
        ["prompt_slug", "rater", "created_at"],
    )
    op.drop_index("ix_model_ratings_slug", table_name="model_ratings")


def downgrade() -> None:
    op.create_index("ix_model_ratings_slug", "model_ratings", ["prompt_slug", "rater"])
    op.drop_index("ix_model_ratings_slug_created", table_name="model_ratings")
