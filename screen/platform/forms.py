"""Forms that forgive: a refused staff form comes back as the same page, with what was
typed kept and each problem shown next to its field, and a 4xx status.

A controller catches the domain's `ScreenError` (which may name the `field` it is
about), and renders its own template again with `FormState.refused(...)`; templates
show it with the macros in `templates/_partials/forms.html`. A bare error page would
drop the navigation and everything the user typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from screen.platform.errors import ScreenError

GENERAL = ""  # the key of a problem that is about the whole form, not one field


@dataclass(frozen=True)
class FormState:
    values: Mapping[str, str] = field(default_factory=dict)
    problems: Mapping[str, str] = field(default_factory=dict)
    status_code: int = 200

    @classmethod
    def typed(cls, form: Mapping[str, Any]) -> dict[str, str]:
        """The submitted form as strings (the last value of a repeated key)."""
        return {key: str(value) for key, value in form.items()}

    @classmethod
    def refused(cls, form: Mapping[str, Any], error: ScreenError) -> FormState:
        return cls(
            values=cls.typed(form),
            problems={error.field or GENERAL: error.message},
            status_code=error.status_code,
        )

    def value(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)
