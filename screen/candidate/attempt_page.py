"""The attempt page of a running attempt, assembled from bytes rendered once.

The page candidates reload is the same Jinja template for every attempt of one prompt
version, bar a few values: the link token, the clock's figures, the draft and its
revision, the deadline. Rendering it anew cost more CPU than everything else on that
request (the template's Python, then encoding some 12 KB to UTF-8 each time), so the
template is rendered once per shape of page with a marker in place of each of those
values, cut at the markers into UTF-8 chunks, and each request joins the chunks with its
own values, escaped exactly as the template's autoescape escapes them.

A shape is everything else the template reads: the prompt version, the employer's
branding, the AI-use policy, the time allowed, whether a draft was ever saved and
whether the composition record is capped, and the deployment's limits. Every skeleton is
checked when it is built: the same request is rendered by Jinja as well, and a skeleton
whose result differs by one byte is never used (that shape is then rendered by Jinja
every time). So a template change this module does not foresee makes the page slower,
never different.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from jinja2 import Environment
from markupsafe import escape

from screen.candidate.attempts import AttemptInProgress
from screen.platform.rendering import human_utc, iso_utc

log = logging.getLogger(__name__)

TEMPLATE = "candidate/attempt.html"
# Unicode private-use characters: no prompt, branding or policy text the page shows
# carries them next to a number, and autoescape leaves them as they are.
_OPEN, _CLOSE = "\ue000", "\ue001"
_MAX_SHAPES = 256


@dataclass(frozen=True)
class _Value:
    """Where a marker stands: which per-request value, and what the template did to it
    (`(remaining_ms + 59999) // 60000`, a filter of the deadline)."""

    name: str
    apply: Callable[[Any], Any] | None = None

    def of(self, values: dict[str, Any]) -> str:
        value = values[self.name]
        if self.apply is not None:
            value = self.apply(value)
        return str(escape(value))


class _Recorder:
    """Collects the markers of one rendering of the skeleton, in the order they appear."""

    def __init__(self) -> None:
        self.values: list[_Value] = []

    def marker(self, value: _Value) -> str:
        self.values.append(value)
        return f"{_OPEN}{len(self.values) - 1}{_CLOSE}"


class _Slot:
    """A per-request value in the skeleton's rendering: arithmetic is remembered and
    replayed on the real value; printing it leaves a marker."""

    def __init__(
        self, recorder: _Recorder, name: str, apply: Callable[[Any], Any] | None = None
    ) -> None:
        self._recorder = recorder
        self._name = name
        self._apply = apply

    def _then(self, step: Callable[[Any], Any]) -> _Slot:
        before = self._apply
        return _Slot(
            self._recorder, self._name, step if before is None else lambda v: step(before(v))
        )

    def __add__(self, other: int) -> _Slot:
        return self._then(lambda v: operator.add(v, other))

    def __floordiv__(self, other: int) -> _Slot:
        return self._then(lambda v: operator.floordiv(v, other))

    def __html__(self) -> str:
        return self._recorder.marker(_Value(self._name, self._apply))

    def __str__(self) -> str:
        return self.__html__()

    def __bool__(self) -> bool:
        # A value the template would branch on cannot be a slot: refuse, so the check
        # below sends this shape to Jinja.
        raise TypeError("a per-request value was used in a condition")


class _DeadlineSlot:
    """The deadline, as the `iso_utc` and `human_utc` filters of `local_time` read it."""

    def __init__(self, recorder: _Recorder) -> None:
        self._recorder = recorder

    def isoformat(self, timespec: str = "auto") -> str:
        return self._recorder.marker(_Value("deadline", iso_utc))

    def strftime(self, fmt: str) -> str:
        return self._recorder.marker(_Value("deadline", human_utc))

    def __bool__(self) -> bool:
        return True  # a running attempt always has one


@dataclass(frozen=True)
class _AttemptShape:
    """What the template reads of the attempt while the skeleton is rendered."""

    deadline: Any
    draft: Any
    revision: Any
    draft_saved_at: bool
    composition_seq: Any
    composition_capped_at: bool


@dataclass(frozen=True)
class _Skeleton:
    chunks: tuple[bytes, ...]  # one more than values: text, value, text, …, text
    values: tuple[_Value, ...]

    def assemble(self, values: dict[str, Any]) -> bytes:
        parts = [self.chunks[0]]
        for value, chunk in zip(self.values, self.chunks[1:], strict=True):
            parts.append(value.of(values).encode())
            parts.append(chunk)
        return b"".join(parts)


def _cut(rendered: str, recorder: _Recorder) -> _Skeleton | None:
    chunks: list[bytes] = []
    values: list[_Value] = []
    rest = rendered
    while True:
        start = rest.find(_OPEN)
        if start < 0:
            break
        end = rest.find(_CLOSE, start)
        if end < 0:
            return None
        chunks.append(rest[:start].encode())
        values.append(recorder.values[int(rest[start + 1 : end])])
        rest = rest[end + 1 :]
    chunks.append(rest.encode())
    if len(values) != len(recorder.values):
        return None  # a marker went somewhere it was not printed as is
    return _Skeleton(tuple(chunks), tuple(values))


class AttemptPages:
    """The skeletons of one process, by shape; at most `_MAX_SHAPES` are kept (a prompt
    version rarely needs more than two: before and after the first save)."""

    def __init__(self, templates: Environment) -> None:
        self._templates = templates
        self._skeletons: dict[tuple[Any, ...], _Skeleton | None] = {}

    def render(
        self,
        context: Callable[[], dict[str, Any]],
        running: AttemptInProgress,
        token: str,
        remaining_ms: int,
        elapsed_ms: int,
        shape: tuple[Any, ...],
    ) -> bytes:
        """The page for `context()` (what the template would be given, with `running` as
        the attempt: built only when Jinja renders), from this shape's skeleton when it has
        a sound one."""
        key = (
            shape,
            running.draft_saved_at is not None,
            running.composition_capped_at is not None,
        )
        values = {
            "token": token,
            "remaining_ms": remaining_ms,
            "elapsed_ms": elapsed_ms,
            "deadline": running.deadline,
            "draft": running.draft,
            "revision": running.revision,
            "composition_seq": running.composition_seq,
        }
        try:
            skeleton = self._skeletons[key]
        except KeyError:
            return self._build(key, context(), values)
        if skeleton is None:
            return self._jinja(context())
        return skeleton.assemble(values)

    def _jinja(self, context: dict[str, Any]) -> bytes:
        return self._templates.get_template(TEMPLATE).render(context).encode()

    def _build(
        self, key: tuple[Any, ...], context: dict[str, Any], values: dict[str, Any]
    ) -> bytes:
        page = self._jinja(context)
        recorder = _Recorder()
        attempt = _AttemptShape(
            deadline=_DeadlineSlot(recorder),
            draft=_Slot(recorder, "draft"),
            revision=_Slot(recorder, "revision"),
            draft_saved_at=key[1],
            composition_seq=_Slot(recorder, "composition_seq"),
            composition_capped_at=key[2],
        )
        slotted = {
            **context,
            "token": _Slot(recorder, "token"),
            "attempt": attempt,
            "remaining_ms": _Slot(recorder, "remaining_ms"),
            "elapsed_ms": _Slot(recorder, "elapsed_ms"),
        }
        skeleton: _Skeleton | None = None
        try:
            rendered = self._templates.get_template(TEMPLATE).render(slotted)
            skeleton = _cut(rendered, recorder)
        except Exception:  # any use of a value the skeleton cannot stand in for
            log.warning("attempt page: no skeleton for this shape", exc_info=True)
        if skeleton is not None and skeleton.assemble(values) != page:
            log.warning("attempt page: the skeleton differs from the template; not used")
            skeleton = None
        if len(self._skeletons) >= _MAX_SHAPES:
            self._skeletons.clear()
        self._skeletons[key] = skeleton
        return page


def shape_of(
    prompt_id: int,
    ai_policy: str | None,
    allowed: timedelta,
    org: object,
    max_bytes: int,
    grace_seconds: int,
) -> tuple[Any, ...]:
    """What, besides the attempt's own state, makes one attempt page differ from another."""
    return (prompt_id, ai_policy, allowed, org, max_bytes, grace_seconds)
