"""Jinja environment and the safe Markdown every page and email uses.

Markdown is rendered with raw HTML disabled and the result sanitised by nh3,
so text from candidates (or a careless prompt author) stays inert.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta
from pathlib import Path

import nh3
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

from screen.platform.paths import TEMPLATES_DIR

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}


_TABLE = re.compile(r"<table>(.*?)</table>", re.DOTALL)


def _scrolling_tables(html: str, where: str) -> str:
    """Each table in a labelled region that scrolls sideways and takes keyboard focus.

    A wide table (a price sheet on a phone) must scroll inside the text, not widen the
    page; a scrolling box that cannot be focused cannot be scrolled with the keyboard, and
    not every browser makes it focusable itself (axe: scrollable-region-focusable). Done
    on the sanitiser's output, whose tables are Markdown's own: text can only reach here
    escaped, and Markdown tables never nest."""
    count = 0

    def wrap(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return (
            f'<div class="table-scroll" role="region" tabindex="0" '
            f'aria-label="Table {count} {where}">{match.group(0)}</div>'
        )

    return _TABLE.sub(wrap, html)


def _sanitised_html(text: str, where: str) -> str:
    html = _markdown.render(text)
    return _scrolling_tables(
        nh3.clean(html, url_schemes=_ALLOWED_URL_SCHEMES, link_rel="noopener noreferrer nofollow"),
        where,
    )


def render_markdown(text: str) -> Markup:
    # Tables are labelled "in the answer", the prompt's "in the prompt": pages that show both
    # keep their regions' names distinct.
    return Markup(_sanitised_html(text, "in the answer"))  # noqa: S704 - sanitised by nh3


@functools.lru_cache(maxsize=64)
def _sanitised_prompt(body: str) -> str:
    return _sanitised_html(body, "in the prompt")


def render_prompt(body: str) -> Markup:
    """A prompt's body, cached: a prompt version never changes and is shown on every
    candidate page view. (Candidate answers use `markdown`, uncached: an answer is kept
    in memory no longer than its page needs.)"""
    return Markup(_sanitised_prompt(body))  # noqa: S704 - sanitised by nh3


def iso_utc(moment: datetime | None) -> str:
    # Whole seconds: JavaScript's Date does not parse microseconds reliably.
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z") if moment else ""


def human_utc(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def duration(value: timedelta) -> str:
    """ "40 minutes", or "39 minutes 54 seconds" when an accommodation makes it uneven."""
    total = round(value.total_seconds())
    minutes, seconds = divmod(total, 60)
    text = f"{minutes} minute{'s' if minutes != 1 else ''}"
    if seconds:
        text += f" {seconds} second{'s' if seconds != 1 else ''}"
    return text


def create_environment(
    directory: Path = TEMPLATES_DIR, *, auto_reload: bool = False
) -> Environment:
    env = Environment(
        loader=FileSystemLoader(directory),
        # Checking every template file's mtime on every render is for development only.
        auto_reload=auto_reload,
        autoescape=select_autoescape(["html"], default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["markdown"] = render_markdown
    env.filters["prompt_markdown"] = render_prompt
    env.filters["iso_utc"] = iso_utc
    env.filters["human_utc"] = human_utc
    env.filters["duration"] = duration
    return env
