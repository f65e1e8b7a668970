"""Text people type, made safe to store and to show.

PostgreSQL refuses NUL in text (and in JSON), so a stray NUL in a form field would be a
500 there and fine on SQLite; other control characters and bidirectional overrides can
disguise a name or a title in pages, emails and spreadsheets. Every free-text field goes
through one of these two before it is checked for length and stored.
"""

from __future__ import annotations

import re

from screen.platform.errors import InputError

# C0 and C1 controls; tab, newline and carriage return are whitespace and handled apart.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Invisible characters that reorder or hide text. Not U+200C/U+200D (zero-width non-joiner
# and joiner): Persian, Indic scripts and emoji sequences such as 👩🏽‍💻 need them.
_DISGUISES = re.compile("[\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def one_line(text: str) -> str:
    """Names, titles, reasons: one line, single spaces, nothing invisible or reordering."""
    return " ".join(_DISGUISES.sub("", _CONTROLS.sub("", text)).split())


def multi_line(text: str) -> str:
    """Notes that keep their lines (evidence): control characters removed, lines kept."""
    return _CONTROLS.sub("", text).replace("\r\n", "\n").replace("\r", "\n").strip()


# ASCII only: an address that needs SMTPUTF8 would be accepted here and then fail to send
# for a day of retries, so it is refused up front.
EMAIL_PATTERN = re.compile(r"^[!-~]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_EMAIL_FORBIDDEN = re.compile(r"[\s<>\"',;@]")


def normalise_email(email: str) -> str:
    email = email.strip()
    local = email.rpartition("@")[0]
    if len(email) > 320 or not EMAIL_PATTERN.match(email) or _EMAIL_FORBIDDEN.search(local):
        raise InputError(
            f"{email!r} is not a valid email address (plain ASCII, like name@example.com).",
            field="email",
        )
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"
