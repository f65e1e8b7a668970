"""Placeholder: being built (issue 4)."""

from __future__ import annotations

from litestar import Controller


class AtsController(Controller):
    path = "/api/ats"
