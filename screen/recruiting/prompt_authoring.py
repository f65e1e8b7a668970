"""Prompts uploaded or edited in the browser.

A lead or an admin uploads a prompt file or edits the newest version's text in a form.
The text goes through `prompts.check_prompt_text`, the very function `screen prompts
check` runs on the folder, and a text that passes becomes a new immutable version with
`source = "ui"`, who saved it and an audit record. Nothing is ever changed in place: a
screen pinned to an older version keeps it. The folder sync then leaves that prompt
alone (`prompts.sync_library`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform import audit
from screen.platform.models import Prompt
from screen.recruiting.prompts import (
    EXEMPLARS_SUFFIX,
    FROM_UI,
    MAX_MINUTES,
    MIN_MINUTES,
    FileProblem,
    PromptSource,
    check_prompt_text,
    follow_ups_from_dict,
    latest_version,
    timing_warnings,
)

# A prompt file is a page or two of Markdown and a rubric: the largest in the library is
# under 20 KB, so 200 KB leaves room for any real prompt and refuses anything else.
MAX_FILE_BYTES = 200 * 1024


@dataclass(frozen=True)
class Checked:
    """What the checks made of an upload or an edit: a source ready to save, or the
    problems (every one, as `screen prompts check` prints them); warnings never block."""

    source: PromptSource | None
    problems: list[FileProblem] = field(default_factory=list)
    warnings: list[FileProblem] = field(default_factory=list)
    status_code: int = 200

    @property
    def ok(self) -> bool:
        return self.source is not None and not self.problems


def _refused(name: str, where: str, message: str, status_code: int = 422) -> Checked:
    return Checked(None, [FileProblem(name, where, message)], status_code=status_code)


def exemplars_file(prompt: Prompt | None) -> bytes | None:
    """A stored version's calibration exemplars written back as the exemplars file the
    folder would hold, so a new version made in the browser carries them and they are
    checked against its rubric exactly as a file beside it would be."""
    if prompt is None or not prompt.exemplars:
        return None
    return yaml.safe_dump(
        {"exemplars": prompt.exemplars}, allow_unicode=True, sort_keys=False, width=100
    ).encode("utf-8")


def _basic_problems(name: str, data: bytes) -> Checked | None:
    if len(data) > MAX_FILE_BYTES:
        return _refused(
            name,
            "file",
            f"{len(data) / 1024:,.0f} KB; the limit is {MAX_FILE_BYTES // 1024} KB",
            413,
        )
    if not data.strip():
        return _refused(name, "file", "empty: a prompt file is front matter and a body")
    if b"\0" in data:
        return _refused(name, "file", "holds NUL bytes: not a text file")
    return None


async def _check(db: AsyncSession, name: str, data: bytes, *, slug: str | None) -> Checked:
    refused = _basic_problems(name, data)
    if refused is not None:
        return refused
    source, problems = check_prompt_text(name, data, None)
    if source is None:
        return Checked(None, problems)
    if slug is not None and source.slug != slug:
        return _refused(
            name,
            "slug",
            f"this form edits {slug!r}; the text names {source.slug!r}. "
            "To start another prompt, upload it as a new file",
        )
    newest = await latest_version(db, source.slug)
    carried = exemplars_file(newest)
    if carried is not None:
        # A new version of a prompt keeps its calibration exemplars, checked against the
        # new rubric as `screen prompts check` checks the exemplars file beside a prompt.
        source, problems = check_prompt_text(name, data, carried)
        if source is None:
            return Checked(None, problems)
    same = await db.scalar(
        select(Prompt.version).where(
            Prompt.slug == source.slug, Prompt.content_hash == source.content_hash
        )
    )
    if same is not None:
        return _refused(
            name, "file", f"identical to version {same} of {source.slug}: nothing to save"
        )
    return Checked(source, [], timing_warnings([source]))


def upload_name(filename: str) -> str:
    """The uploaded file's own name, without any folder a browser sends with it."""
    return filename.replace("\\", "/").rsplit("/", 1)[-1].strip()


async def check_upload(db: AsyncSession, filename: str, data: bytes) -> Checked:
    """An uploaded prompt file: its name gives the slug (unless its front matter names
    one), as a file in `prompts/` would."""
    name = upload_name(filename)
    if not name:
        return _refused("(no file)", "file", "choose a prompt file (.md) to upload")
    if not name.lower().endswith(".md") or name.lower().endswith(EXEMPLARS_SUFFIX):
        return _refused(name, "file", "must be a prompt file whose name ends in .md")
    return await _check(db, name[: -len(".md")] + ".md", data, slug=None)


async def check_edit(db: AsyncSession, prompt: Prompt, text: str) -> Checked:
    """The edited text of `prompt`'s file, as typed in the form."""
    # A browser sends a textarea's line breaks as CRLF; the folder's files use LF.
    data = text.replace("\r\n", "\n").encode("utf-8", "replace")
    return await _check(db, f"{prompt.slug}.md", data, slug=prompt.slug)


class VersionConflictError(Exception):
    """Someone saved a version of the same prompt at the same moment."""


async def save_version(
    db: AsyncSession, source: PromptSource, *, by: str, actor: str, action: str, now: datetime
) -> Prompt:
    """Store a checked source as the prompt's next version, never touching older ones."""
    newest = await latest_version(db, source.slug)
    prompt = Prompt(
        slug=source.slug,
        version=(newest.version if newest else 0) + 1,
        content_hash=source.content_hash,
        title=source.title,
        area=source.area,
        summary=source.summary,
        body=source.body,
        duration_minutes=source.duration_minutes,
        rubric=source.rubric.to_dict(),
        exemplars=source.exemplars,
        change_note=source.change_note,
        follow_ups=source.follow_ups.to_dict() if source.follow_ups else None,
        created_at=now,
        source=FROM_UI,
        created_by=by,
        source_text=source.text,
    )
    try:
        async with db.begin_nested():
            db.add(prompt)
            await db.flush()
    except IntegrityError as error:
        raise VersionConflictError from error
    audit.record(
        db,
        actor=actor,
        action=action,
        subject_type="prompt",
        subject_id=prompt.id,
        now=now,
        before={"version": newest.version, "source": newest.source} if newest else None,
        after={
            "slug": prompt.slug,
            "version": prompt.version,
            "content_hash": prompt.content_hash,
            "title": prompt.title,
        },
    )
    return prompt


def _minutes(seconds: int) -> int | float:
    return seconds // 60 if seconds % 60 == 0 else seconds / 60


def file_text(prompt: Prompt) -> str:
    """The prompt file an edit starts from: the text it was checked as, or, for a version
    stored before the text was kept, a file written from its stored fields."""
    if prompt.source_text:
        return prompt.source_text
    meta: dict[str, Any] = {
        "title": prompt.title,
        "area": prompt.area,
        "summary": prompt.summary,
        "duration_minutes": prompt.duration_minutes,
    }
    if not MIN_MINUTES <= prompt.duration_minutes <= MAX_MINUTES:
        meta["duration_override"] = True
    follow_ups = follow_ups_from_dict(prompt.follow_ups)
    if follow_ups is not None:
        meta["follow_ups"] = {
            "scored_by": follow_ups.scored_by,
            "questions": [
                {"text": q.text, "minutes": _minutes(q.seconds)} for q in follow_ups.questions
            ],
        }
    rubric = dict(prompt.rubric)
    rubric["dimensions"] = [
        {k: v for k, v in d.items() if (k, v) not in (("floor", None), ("tradeoff", False))}
        | {"levels": {int(level): text for level, text in d["levels"].items()}}
        for d in rubric["dimensions"]
    ]
    meta["rubric"] = rubric
    front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=100)
    return f"---\n{front}---\n\n{prompt.body}\n"
