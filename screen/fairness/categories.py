"""The self-identification questions a deployment asks, and the check of what comes back.

The defaults follow US EEO reporting: gender, race/ethnicity (the EEO-1 categories), an
age band and disability (the wording of OFCCP form CC-305), each with "prefer not to
say". A deployment replaces them with a JSON or YAML file (SCREEN_SELF_ID_CATEGORIES) or
turns the questions off (SCREEN_SELF_ID=0); docs/fairness.md shows the file's shape.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from screen.platform.errors import InputError
from screen.settings import Settings, SettingsError

PREFER_NOT = "prefer_not_to_say"
PREFER_NOT_LABEL = "Prefer not to say"
_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True)
class Option:
    key: str
    label: str


@dataclass(frozen=True)
class Category:
    key: str
    question: str
    options: tuple[Option, ...]  # the groups compared, without "prefer not to say"

    @property
    def choices(self) -> tuple[Option, ...]:
        """What the form offers: the options, then "prefer not to say"."""
        return (*self.options, Option(PREFER_NOT, PREFER_NOT_LABEL))

    def label(self, option_key: str | None) -> str:
        if option_key is None:
            return "Not stated"
        return next((o.label for o in self.choices if o.key == option_key), option_key)


def _options(*pairs: tuple[str, str]) -> tuple[Option, ...]:
    return tuple(Option(key, label) for key, label in pairs)


DEFAULT_CATEGORIES: tuple[Category, ...] = (
    Category(
        "gender",
        "What is your gender?",
        _options(
            ("woman", "Woman"),
            ("man", "Man"),
            ("non_binary", "Non-binary"),
            ("another_gender", "Another gender"),
        ),
    ),
    Category(
        "race_ethnicity",
        "What is your race or ethnicity?",
        _options(
            ("hispanic_latino", "Hispanic or Latino"),
            ("white", "White"),
            ("black", "Black or African American"),
            ("pacific_islander", "Native Hawaiian or Other Pacific Islander"),
            ("asian", "Asian"),
            ("american_indian", "American Indian or Alaska Native"),
            ("two_or_more", "Two or more races"),
        ),
    ),
    Category(
        "age_band",
        "What is your age?",
        _options(
            ("under_30", "Under 30"),
            ("30_39", "30 to 39"),
            ("40_49", "40 to 49"),
            ("50_59", "50 to 59"),
            ("60_plus", "60 or over"),
        ),
    ),
    Category(
        "disability",
        "Do you have a disability (or have you had one)?",
        _options(
            ("yes", "Yes, I have a disability, or have had one"),
            ("no", "No, I do not have a disability"),
        ),
    ),
)


def _text(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > limit:
        raise SettingsError(
            f"SCREEN_SELF_ID_CATEGORIES: {what} must be text of 1 to {limit} characters."
        )
    return value.strip()


def _key(value: object, what: str) -> str:
    if not isinstance(value, str) or not _KEY.fullmatch(value) or value == PREFER_NOT:
        raise SettingsError(
            f"SCREEN_SELF_ID_CATEGORIES: {what} must be a key of lower-case letters, digits "
            f"and underscores (at most 40, not {PREFER_NOT!r}); got {value!r}."
        )
    return value


def parse_categories(raw: Any) -> tuple[Category, ...]:
    """`{"categories": [{"key", "question", "options": [{"key", "label"}, ...]}, ...]}`:
    1 to 10 categories of 2 to 20 options; "prefer not to say" is added to each."""
    items = raw.get("categories") if isinstance(raw, Mapping) else None
    if not isinstance(items, list) or not 1 <= len(items) <= 10:
        raise SettingsError(
            "SCREEN_SELF_ID_CATEGORIES: the file must hold `categories`, a list of 1 to 10."
        )
    categories = []
    for item in items:
        if not isinstance(item, Mapping):
            raise SettingsError("SCREEN_SELF_ID_CATEGORIES: each category must be a mapping.")
        key = _key(item.get("key"), "a category's key")
        options = item.get("options")
        if not isinstance(options, list) or not 2 <= len(options) <= 20:
            raise SettingsError(
                f"SCREEN_SELF_ID_CATEGORIES: category {key!r} needs 2 to 20 options."
            )
        parsed = tuple(
            Option(
                _key(o.get("key") if isinstance(o, Mapping) else None, f"an option of {key!r}"),
                _text(o.get("label"), f"an option label of {key!r}", 100),
            )
            for o in options
        )
        if len({o.key for o in parsed}) != len(parsed):
            raise SettingsError(
                f"SCREEN_SELF_ID_CATEGORIES: category {key!r} repeats an option key."
            )
        categories.append(
            Category(key, _text(item.get("question"), f"{key!r}'s question", 200), parsed)
        )
    if len({c.key for c in categories}) != len(categories):
        raise SettingsError("SCREEN_SELF_ID_CATEGORIES: two categories share a key.")
    return tuple(categories)


@functools.cache
def _from_file(path: Path) -> tuple[Category, ...]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"SCREEN_SELF_ID_CATEGORIES: cannot read {path}: {error}") from None
    try:
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise SettingsError(f"SCREEN_SELF_ID_CATEGORIES: {path} does not parse: {error}") from None
    return parse_categories(raw)


def configured(settings: Settings) -> tuple[Category, ...]:
    """The deployment's categories (read once per file)."""
    if settings.self_id_categories is None:
        return DEFAULT_CATEGORIES
    return _from_file(settings.self_id_categories)


def check_answers(categories: Sequence[Category], form: Mapping[str, Any]) -> dict[str, str]:
    """The answers a form carried, each an offered option of an offered category; anything
    else is refused whole (InputError naming it), so nothing half-valid is stored. A
    category left unanswered is left out."""
    known = {c.key: c for c in categories}
    answers: dict[str, str] = {}
    for name, value in form.items():
        if name == "_csrf_token":
            continue
        category = known.get(name)
        if category is None:
            raise InputError(f"There is no question {name[:60]!r} on this form.")
        if not isinstance(value, str):
            raise InputError(
                f"The answer to {category.question!r} must be one of its options.", field=name
            )
        if value == "":
            continue
        if value not in {o.key for o in category.choices}:
            raise InputError(
                f"{value[:60]!r} is not one of the options for {category.question!r}.", field=name
            )
        answers[name] = value
    return answers
