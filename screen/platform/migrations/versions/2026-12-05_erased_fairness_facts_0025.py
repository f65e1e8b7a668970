"""erased fairness facts: what the fairness figures count of erased candidates, unlinked

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05 12:30:00

Erasure deleted the self-identification, so the erased person's group lost one on the
fairness page, and comparing it before and after gave their answers away. The erasure now
moves what the figures count into this table, with no invitation id, timestamp or order.

Candidates erased before this revision (0025) had already lost their answers and counted as "not
stated"; the fairness page now reads erased candidates from this table only, so they are
copied here as "not stated", keeping every figure as it was.
"""

import json
import secrets
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from screen.platform.models import minutes_used

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "erased_fairness_facts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("screen_id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["screen_id"], ["screens.id"], name=op.f("fk_erased_fairness_facts_screen_id_screens")
        ),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_erased_fairness_facts_prompt_id_prompts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erased_fairness_facts")),
        sa.UniqueConstraint("screen_id", "prompt_id", name="uq_erased_fairness_facts_scope"),
    )
    rows = op.get_bind().execute(
        sa.text(
            "SELECT i.screen_id, i.prompt_id, i.accommodation, a.started_at, a.submitted_at,"
            " a.deadline, a.ended_by, d.outcome, d.rule_outcome"
            " FROM invitations i JOIN attempts a ON a.invitation_id = i.id"
            " LEFT JOIN decisions d ON d.attempt_id = a.id"
            " WHERE i.erased_at IS NOT NULL AND a.submitted_at IS NOT NULL"
            " AND a.state != 'withdrawn'"
        )
    )
    pools: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        pools[(row.screen_id, row.prompt_id)].append(
            {
                "person": secrets.token_hex(8),
                "answers": {},
                "passed": {"pass": True, "fail": False}.get(row.outcome),
                "adjudicated": row.rule_outcome == "needs_adjudication",
                "minutes_used": minutes_used(
                    _utc(row.started_at), _utc(row.submitted_at), _utc(row.deadline)
                ),
                "auto_submitted": row.ended_by == "deadline",
                "accommodated": (row.accommodation or 1.0) != 1.0,
            }
        )
    if pools:
        op.bulk_insert(
            table,
            [
                {
                    "screen_id": screen_id,
                    "prompt_id": prompt_id,
                    "facts": sorted(facts, key=lambda f: json.dumps(f, sort_keys=True)),
                }
                for (screen_id, prompt_id), facts in sorted(pools.items())
            ],
        )


def _utc(value: Any) -> Any:
    """A timestamp as the models read it: SQLite gives back text or a naive datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def downgrade() -> None:
    op.drop_table("erased_fairness_facts")
