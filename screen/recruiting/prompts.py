"""The prompt library: files in `prompts/` checked, then synced into immutable versions.

A prompt file is YAML front matter (title, area, duration, rubric, optionally
follow-up questions) plus a Markdown body; calibration exemplars live beside it in
`<slug>.exemplars.yaml` and are never shown to candidates. A version is identified
by the hash of both files, so editing either creates a new version and screens pinned
to the old one keep their meaning.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.rubric import Problem, Rubric, parse_rubric, validate_exemplar_levels
from screen.platform.models import Prompt

AREAS = (
    "llm-architecture",
    "rag-retrieval",
    "fine-tuning",
    "infrastructure-mlops",
    "agentic-systems",
    "safety-evaluation",
)
MIN_MINUTES, MAX_MINUTES = 30, 45
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
EXEMPLARS_SUFFIX = ".exemplars.yaml"
# Follow-up questions about the candidate's own answer, asked one at a time after submit.
MAX_FOLLOW_UPS = 3
FOLLOW_UP_DEFAULT_MINUTES = 3
FOLLOW_UP_MIN_MINUTES, FOLLOW_UP_MAX_MINUTES = 1, 10
FOLLOW_UP_MAX_CHARS = 500
# `scored_by: context`: reviewers read the follow-ups as context; no dimension scores them.
CONTEXT_ONLY = "context"
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n?(.*)\Z", re.DOTALL)


@dataclass(frozen=True)
class FileProblem:
    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"


@dataclass(frozen=True)
class FollowUpQuestion:
    text: str
    seconds: int  # before accommodation


@dataclass(frozen=True)
class FollowUps:
    """A prompt's follow-up questions and who scores them: `CONTEXT_ONLY`, or the key of
    the rubric dimension whose anchors say how the follow-up answers count."""

    scored_by: str
    questions: tuple[FollowUpQuestion, ...]

    @property
    def scored(self) -> bool:
        return self.scored_by != CONTEXT_ONLY

    def to_dict(self) -> dict[str, Any]:
        return {
            "scored_by": self.scored_by,
            "questions": [{"text": q.text, "seconds": q.seconds} for q in self.questions],
        }


def follow_ups_from_dict(data: Mapping[str, Any] | None) -> FollowUps | None:
    """The stored form (`Prompt.follow_ups`, written from a checked file) read back."""
    if not data or not data.get("questions"):
        return None
    return FollowUps(
        scored_by=str(data.get("scored_by") or CONTEXT_ONLY),
        questions=tuple(
            FollowUpQuestion(str(q["text"]), int(q["seconds"])) for q in data["questions"]
        ),
    )


def parse_follow_ups(raw: object, rubric: Rubric | None) -> tuple[FollowUps | None, list[Problem]]:
    """Check the `follow_ups` block of the front matter; absent means none.

    follow_ups:
      scored_by: context          # or the key of the rubric dimension that scores them
      questions:
        - text: "Which assumption in your answer are you least sure of, and ...?"
          minutes: 3              # optional, 1-10, default 3
    """
    if raw is None:
        return None, []
    problems: list[Problem] = []
    if not isinstance(raw, Mapping):
        return None, [Problem("follow_ups", "must be a mapping with scored_by and questions")]
    for unknown in sorted(set(map(str, raw)) - {"scored_by", "questions"}):
        problems.append(Problem(f"follow_ups.{unknown}", "unknown field"))
    scored_by = raw.get("scored_by")
    keys = [d.key for d in rubric.dimensions] if rubric is not None else []
    if not isinstance(scored_by, str) or not scored_by.strip():
        problems.append(
            Problem(
                "follow_ups.scored_by",
                f"missing: say {CONTEXT_ONLY!r} (reviewers read them as context) or the key "
                "of the rubric dimension that scores them",
            )
        )
    elif scored_by != CONTEXT_ONLY and rubric is not None:
        if scored_by not in keys:
            problems.append(
                Problem(
                    "follow_ups.scored_by",
                    f"{scored_by!r} is neither {CONTEXT_ONLY!r} nor a rubric dimension "
                    f"({', '.join(keys)})",
                )
            )
        elif not any(
            "follow-up" in text.lower() for text in rubric.dimension(scored_by).levels.values()
        ):
            # Reviewers score from the anchors: a dimension that counts the follow-ups
            # must say how, or two reviewers will read them differently.
            problems.append(
                Problem(
                    "follow_ups.scored_by",
                    f"dimension {scored_by!r} scores the follow-ups but none of its level "
                    "descriptors says how the follow-up answers count",
                )
            )
    items = raw.get("questions")
    if not isinstance(items, list) or not items:
        problems.append(Problem("follow_ups.questions", "missing: list 1 to 3 questions"))
        items = []
    elif len(items) > MAX_FOLLOW_UPS:
        problems.append(
            Problem(
                "follow_ups.questions",
                f"{len(items)} questions; at most {MAX_FOLLOW_UPS} (each costs the candidate time)",
            )
        )
    questions: list[FollowUpQuestion] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        where = f"follow_ups.questions[{index}]"
        if isinstance(item, str):
            item = {"text": item}
        if not isinstance(item, Mapping):
            problems.append(Problem(where, "must be a mapping with text and minutes"))
            continue
        for unknown in sorted(set(map(str, item)) - {"text", "minutes"}):
            problems.append(Problem(f"{where}.{unknown}", "unknown field"))
        text = item.get("text")
        if not isinstance(text, str) or not text.strip():
            problems.append(Problem(f"{where}.text", "empty: the question the candidate reads"))
            text = ""
        elif len(text.strip()) > FOLLOW_UP_MAX_CHARS:
            problems.append(
                Problem(f"{where}.text", f"longer than {FOLLOW_UP_MAX_CHARS} characters")
            )
        elif " ".join(text.split()).lower() in seen:
            problems.append(Problem(f"{where}.text", "repeats an earlier question"))
        minutes = item.get("minutes", FOLLOW_UP_DEFAULT_MINUTES)
        if (
            not isinstance(minutes, int | float)
            or isinstance(minutes, bool)
            or not FOLLOW_UP_MIN_MINUTES <= minutes <= FOLLOW_UP_MAX_MINUTES
            or (minutes * 60) != int(minutes * 60)
        ):
            problems.append(
                Problem(
                    f"{where}.minutes",
                    f"{minutes!r} is not a limit of {FOLLOW_UP_MIN_MINUTES} to "
                    f"{FOLLOW_UP_MAX_MINUTES} minutes",
                )
            )
            minutes = FOLLOW_UP_DEFAULT_MINUTES
        seen.add(" ".join(text.split()).lower())
        questions.append(FollowUpQuestion(text.strip(), int(minutes * 60)))
    if problems:
        return None, problems
    return FollowUps(str(scored_by), tuple(questions)), []


@dataclass(frozen=True)
class PromptSource:
    """A prompt file that passed every check, ready to become a version."""

    slug: str
    title: str
    area: str
    summary: str
    body: str
    duration_minutes: int
    rubric: Rubric
    exemplars: list[dict[str, Any]]
    change_note: str | None
    content_hash: str
    follow_ups: FollowUps | None = None
    text: str | None = None  # the file as checked, kept with the version


@dataclass
class LibraryCheck:
    prompts: list[PromptSource] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)


def _load_yaml(text: str) -> tuple[object, str | None]:
    try:
        return yaml.safe_load(text), None
    except yaml.YAMLError as error:
        return None, f"not valid YAML ({str(error).splitlines()[0]})"


def read_prompt_file(path: Path) -> tuple[PromptSource | None, list[FileProblem]]:
    stem = path.name.removesuffix(".md")
    try:
        raw_bytes = path.read_bytes()
    except OSError as error:
        return None, [FileProblem(path.name, "file", f"cannot be read as UTF-8 ({error})")]
    exemplars_path = path.with_name(stem + EXEMPLARS_SUFFIX)
    exemplar_bytes = exemplars_path.read_bytes() if exemplars_path.exists() else None
    return check_prompt_text(path.name, raw_bytes, exemplar_bytes)


def check_prompt_text(
    name: str, raw_bytes: bytes, exemplar_bytes: bytes | None
) -> tuple[PromptSource | None, list[FileProblem]]:
    """Every check `screen prompts check` makes of one prompt file (`name` as it is called,
    its bytes, and its exemplars file's bytes if there is one): the folder's files and the
    browser's uploads and edits go through this same function."""
    problems: list[FileProblem] = []

    def report(where: str, message: str) -> None:
        problems.append(FileProblem(name, where, message))

    stem = name.removesuffix(".md")
    slug = stem
    try:
        # utf-8-sig: editors on Windows save a byte-order mark nobody can see, and "the
        # file must start with ---" would then be refused for a file that does.
        text = raw_bytes.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        report("file", f"cannot be read as UTF-8 ({error})")
        return None, problems

    match = _FRONT_MATTER.match(text)
    if not match:
        report("front matter", "missing: the file must start with a --- YAML block ---")
        return None, problems
    meta, yaml_error = _load_yaml(match.group(1))
    if yaml_error or not isinstance(meta, Mapping):
        report("front matter", yaml_error or "must be a YAML mapping")
        return None, problems
    body = match.group(2).strip()

    # The slug is the file name unless the front matter names one (e.g. after renaming a
    # file, to keep its versions together).
    declared_slug = meta.get("slug")
    if declared_slug is not None:
        slug = str(declared_slug)
    if not SLUG_PATTERN.match(slug):
        report("slug", f"{slug!r} must be lowercase letters, digits and dashes")
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        report("title", "missing")
    area = meta.get("area")
    if area not in AREAS:
        report("area", f"must be one of {', '.join(AREAS)}")
    summary = meta.get("summary", "")
    if not isinstance(summary, str):
        report("summary", "must be text")
    duration = meta.get("duration_minutes")
    override = meta.get("duration_override", False) is True
    if not isinstance(duration, int) or isinstance(duration, bool) or duration < 1:
        report("duration_minutes", "missing or not a whole number of minutes")
    elif not override and not MIN_MINUTES <= duration <= MAX_MINUTES:
        report(
            "duration_minutes",
            f"{duration} is outside {MIN_MINUTES}-{MAX_MINUTES}; "
            "set duration_override: true if that is deliberate",
        )
    change_note = meta.get("change_note")
    if change_note is not None and not isinstance(change_note, str):
        report("change_note", "must be text")
    if not body:
        report("body", "missing: the prompt text the candidate reads")

    rubric, rubric_problems = parse_rubric(meta.get("rubric"))
    problems.extend(FileProblem(name, p.field, p.message) for p in rubric_problems)
    follow_ups, follow_up_problems = parse_follow_ups(meta.get("follow_ups"), rubric)
    problems.extend(FileProblem(name, p.field, p.message) for p in follow_up_problems)

    exemplars: list[dict[str, Any]] = []
    if exemplar_bytes is not None and rubric is not None:
        exemplars, exemplar_problems = _read_exemplars(exemplar_bytes, rubric)
        problems.extend(
            FileProblem(stem + EXEMPLARS_SUFFIX, p.field, p.message) for p in exemplar_problems
        )

    if problems or rubric is None:
        return None, problems
    # The follow-ups are in the file's bytes, so they are part of the version: editing a
    # question makes a new version and screens pinned to the old one keep their questions.
    digest = hashlib.sha256(raw_bytes + b"\0" + (exemplar_bytes or b"")).hexdigest()
    if not (isinstance(title, str) and isinstance(area, str) and isinstance(duration, int)):
        return None, problems  # unreachable: each was reported above
    return (
        PromptSource(
            slug=slug,
            title=title.strip(),
            area=area,
            summary=str(summary).strip(),
            body=body,
            duration_minutes=duration,
            rubric=rubric,
            exemplars=exemplars,
            change_note=change_note.strip() if isinstance(change_note, str) else None,
            content_hash=digest,
            follow_ups=follow_ups,
            text=text,
        ),
        [],
    )


def _read_exemplars(raw: bytes, rubric: Rubric) -> tuple[list[dict[str, Any]], list[Problem]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [Problem("file", "cannot be read as UTF-8")]
    data, error = _load_yaml(text)
    if error:
        return [], [Problem("file", error)]
    items = data.get("exemplars") if isinstance(data, Mapping) else None
    if not isinstance(items, list) or not items:
        return [], [Problem("exemplars", "missing: list the calibration answers")]
    problems: list[Problem] = []
    exemplars: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        where = f"exemplars[{index}]"
        if not isinstance(item, Mapping):
            problems.append(Problem(where, "not a mapping"))
            continue
        key = item.get("key")
        if not isinstance(key, str) or not key.strip() or key in seen:
            problems.append(Problem(f"{where}.key", "missing or duplicate"))
            continue
        seen.add(key)
        answer = item.get("answer")
        if not isinstance(answer, str) or not answer.strip():
            problems.append(Problem(f"{where}.answer", "missing"))
        levels, level_problems = validate_exemplar_levels(
            rubric, item.get("levels"), f"{where}.levels"
        )
        problems.extend(level_problems)
        label = item.get("label")
        exemplars.append(
            {
                "key": key,
                "label": label if isinstance(label, str) else key,
                "answer": answer if isinstance(answer, str) else "",
                "levels": levels,
            }
        )
    return exemplars, problems


def check_library(directory: Path) -> LibraryCheck:
    result = LibraryCheck()
    if not directory.is_dir():
        result.problems.append(FileProblem(str(directory), "directory", "not found"))
        return result
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        source, problems = read_prompt_file(path)
        result.problems.extend(problems)
        if source is None:
            continue
        if source.slug.lower() in seen:
            result.problems.append(
                FileProblem(
                    path.name, "slug", f"duplicates {seen[source.slug.lower()]} ({source.slug!r})"
                )
            )
            continue
        seen[source.slug.lower()] = path.name
        result.prompts.append(source)
    orphans = {
        p.name.removesuffix(EXEMPLARS_SUFFIX) for p in directory.glob("*" + EXEMPLARS_SUFFIX)
    }
    for slug in sorted(orphans - {p.name.removesuffix(".md") for p in directory.glob("*.md")}):
        result.problems.append(
            FileProblem(slug + EXEMPLARS_SUFFIX, "file", f"no prompt {slug}.md beside it")
        )
    return result


# Whether a prompt fits its time (RUBRICS.md: "Fits the time"). Reading at 200 words a
# minute and writing at 30 are the rates the issue that asked for this check set; the
# answer's length is the top of the range the prompt itself asks for, because a candidate
# who takes the prompt at its word must be able to write that much in the time.
READING_WORDS_PER_MINUTE = 200
WRITING_WORDS_PER_MINUTE = 30
# How a prompt states the length it expects, on its own line: "Suggested length:
# 600–1,000 words", "Suggested length: up to 800 words" (hyphen or en dash).
_ASKED_LENGTH = re.compile(
    r"^\W*suggested length:\s*(?:(?:about|up to|at most)\s+)?"
    r"(?:(?P<low>[0-9][0-9,]*)\s*(?:-|–|to)\s*)?(?P<high>[0-9][0-9,]*)\s+words",
    re.IGNORECASE | re.MULTILINE,
)
# A word is a token with a letter or digit in it: table rules (|---|) and bullets are not.
_WORD = re.compile(r"\S*[^\W_]\S*")


def reading_words(body: str) -> int:
    """Words a candidate reads in the prompt's Markdown body."""
    return len(_WORD.findall(body))


def asked_answer_words(body: str) -> int | None:
    """The top of the answer length the prompt asks for, if it states one."""
    match = _ASKED_LENGTH.search(body)
    return int(match.group("high").replace(",", "")) if match else None


@dataclass(frozen=True)
class TimeFit:
    """A prompt's reading time plus the time to write the answer it asks for, in minutes."""

    reading_words: int
    answer_words: int | None
    reading_minutes: float
    writing_minutes: float
    duration_minutes: int

    @property
    def needed_minutes(self) -> float:
        return self.reading_minutes + self.writing_minutes

    @property
    def fits(self) -> bool:
        return self.needed_minutes <= self.duration_minutes

    def warning(self) -> str:
        asked = (
            f"writing the {self.answer_words:,} words it asks for "
            f"({self.writing_minutes:.1f} min at {WRITING_WORDS_PER_MINUTE} words/min)"
            if self.answer_words is not None
            else "no stated answer length"
        )
        return (
            f"reading {self.reading_words:,} words ({self.reading_minutes:.1f} min at "
            f"{READING_WORDS_PER_MINUTE} words/min) plus {asked} needs "
            f"{self.needed_minutes:.1f} min, more than its {self.duration_minutes} min: "
            "shorten the reading, ask for fewer words, or allow more time"
        )


def time_fit(body: str, duration_minutes: int) -> TimeFit:
    words = reading_words(body)
    answer = asked_answer_words(body)
    return TimeFit(
        reading_words=words,
        answer_words=answer,
        reading_minutes=words / READING_WORDS_PER_MINUTE,
        writing_minutes=(answer or 0) / WRITING_WORDS_PER_MINUTE,
        duration_minutes=duration_minutes,
    )


def timing_warnings(sources: list[PromptSource]) -> list[FileProblem]:
    """Prompts that do not fit their time: warnings, not problems (the file is valid and
    still syncs), so an author sees them on every check."""
    warnings: list[FileProblem] = []
    for source in sources:
        fit = time_fit(source.body, source.duration_minutes)
        if not fit.fits:
            warnings.append(FileProblem(f"{source.slug}.md", "duration_minutes", fit.warning()))
    return warnings


# Where a version came from (`Prompt.source`).
FROM_FOLDER = "folder"
FROM_UI = "ui"


@dataclass(frozen=True)
class SyncResult:
    created: list[tuple[str, int]]
    unchanged: list[tuple[str, int]]
    # Folder files left alone because the prompt's newest version was saved in the browser:
    # (slug, that version, who saved it).
    kept: list[tuple[str, int, str]] = field(default_factory=list)


async def sync_library(
    db: AsyncSession,
    sources: list[PromptSource],
    now: datetime,
    *,
    take_back: frozenset[str] = frozenset(),
) -> SyncResult:
    """Store each source as a new version unless a version with its content hash exists.

    A prompt whose newest version was saved in the browser is the browser's: its folder
    file is not synced (it is usually the older text, and a sync must not quietly put it
    back in front of what a lead saved). `take_back` names the slugs whose folder file
    should become the newest version again (`screen prompts sync --take-back SLUG`)."""
    created: list[tuple[str, int]] = []
    unchanged: list[tuple[str, int]] = []
    kept: list[tuple[str, int, str]] = []
    for source in sources:
        newest = await latest_version(db, source.slug)
        if newest is not None and newest.source == FROM_UI and source.slug not in take_back:
            kept.append((source.slug, newest.version, newest.created_by or "someone"))
            continue
        existing = await db.scalar(
            select(Prompt.version).where(
                Prompt.slug == source.slug, Prompt.content_hash == source.content_hash
            )
        )
        if existing is not None:
            unchanged.append((source.slug, existing))
            continue
        latest = await db.scalar(select(func.max(Prompt.version)).where(Prompt.slug == source.slug))
        version = (latest or 0) + 1
        db.add(
            Prompt(
                slug=source.slug,
                version=version,
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
                source=FROM_FOLDER,
                source_text=source.text,
            )
        )
        created.append((source.slug, version))
    await db.flush()
    return SyncResult(created, unchanged, kept)


async def latest_version(db: AsyncSession, slug: str) -> Prompt | None:
    return await db.scalar(
        select(Prompt).where(Prompt.slug == slug).order_by(Prompt.version.desc()).limit(1)
    )
