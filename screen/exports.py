"""Placeholder: being built (issue 4)."""

from __future__ import annotations

from litestar import Controller

from screen.auth import RECRUITERS, requires


class ExportController(Controller):
    path = "/recruiter/screens/{screen_id:int}/export"
    guards = [requires(*RECRUITERS)]  # noqa: RUF012 - Litestar reads this class attribute
