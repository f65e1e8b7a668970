"""staff link emails' outbox kind is dotted like the others

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05 12:30:00

Every outbox kind reads `thing.action` (`invitation.email`, `reminder.email`) except
the staff link email's `staff_link_email`; it becomes `staff_link.email`. An event keeps
the kind it was written with and the relay looks its handler up by that name, so the
rows that may still run (pending, dispatched, or dead and retryable from the outbox
page) are renamed; delivered ones keep the name they ran under.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rename(old: str, new: str) -> None:
    op.execute(
        f"UPDATE outbox_events SET kind = '{new}' WHERE kind = '{old}' AND status <> 'done'"
    )


def upgrade() -> None:
    _rename("staff_link_email", "staff_link.email")


def downgrade() -> None:
    _rename("staff_link.email", "staff_link_email")
