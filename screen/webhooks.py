"""Placeholder: being built (issue 4)."""

from __future__ import annotations

from litestar import Controller

from screen.auth import requires
from screen.models import Role


class WebhookAdminController(Controller):
    path = "/admin/webhooks"
    guards = [requires(Role.ADMIN)]  # noqa: RUF012 - Litestar reads this class attribute
