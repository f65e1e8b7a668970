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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from jinja2 import Environment, Template, meta
from litestar import Request, Response
from litestar.background_tasks import BackgroundTask, BackgroundTasks
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.response.base import ASGIResponse
from markupsafe import escape

from screen.candidate.attempts import AttemptInProgress
from screen.platform.rendering import human_utc, iso_utc

log = logging.getLogger(__name__)

TEMPLATE = "candidate/attempt.html"
# Unicode private-use characters: no prompt, branding or policy text the page shows
# carries them next to a number, and autoescape leaves them as they are.
_OPEN, _CLOSE = "\ue000", "\ue001"
_MAX_SHAPES = 256
NO_STORE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@dataclass(frozen=True)
class _Value:
    """Where a marker stands: which per-request value, and what the template did to it
    (`(remaining_ms + 59999) // 60000`, a filter of the deadline)."""

    name: str
    apply: Callable[[Any], Any] | None = None

    def of(self, values: dict[str, Any]) -> bytes:
        value = values[self.name]
        if self.apply is not None:
            value = self.apply(value)
        if type(value) is int:
            return str(value).encode()  # digits and a sign: nothing to escape
        return str(escape(value)).encode()


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
    chunks: tuple[bytes, ...]  # one more than slots: text, value, text, …, text
    values: tuple[_Value, ...]  # each distinct value once (the token fills six slots)
    slots: tuple[int, ...]  # which of `values` goes between two chunks

    def assemble(self, values: dict[str, Any]) -> bytes:
        texts = [value.of(values) for value in self.values]
        parts = [self.chunks[0]]
        for slot, chunk in zip(self.slots, self.chunks[1:], strict=True):
            parts.append(texts[slot])
            parts.append(chunk)
        return b"".join(parts)


def _cut(rendered: str, recorder: _Recorder) -> _Skeleton | None:
    chunks: list[bytes] = []
    distinct: dict[_Value, int] = {}
    slots: list[int] = []
    rest = rendered
    while True:
        start = rest.find(_OPEN)
        if start < 0:
            break
        end = rest.find(_CLOSE, start)
        if end < 0:
            return None
        chunks.append(rest[:start].encode())
        value = recorder.values[int(rest[start + 1 : end])]
        slots.append(distinct.setdefault(value, len(distinct)))
        rest = rest[end + 1 :]
    chunks.append(rest.encode())
    if len(slots) != len(recorder.values):
        return None  # a marker went somewhere it was not printed as is
    return _Skeleton(tuple(chunks), tuple(distinct), tuple(slots))


def _made_of(templates: Environment, name: str) -> list[str] | None:
    """Every template the page is made of (what it extends, imports and includes, and
    theirs), or None when one of them is chosen at render time and cannot be named."""
    loader = templates.loader
    if loader is None:
        return None
    names = [name]
    for current in names:
        source, _, _ = loader.get_source(templates, current)
        for referenced in meta.find_referenced_templates(templates.parse(source)):
            if referenced is None:
                return None
            if referenced not in names:
                names.append(referenced)
    return names


class AttemptPages:
    """The skeletons of one process, by shape; at most `_MAX_SHAPES` are kept (a prompt
    version rarely needs more than two: before and after the first save).

    When templates reload as their files change (development: `SCREEN_DEBUG`), the
    skeletons follow: they are dropped as soon as Jinja reloads any template the page is
    made of, so an edit shows at the next reload as on every other page."""

    def __init__(self, templates: Environment) -> None:
        self._templates = templates
        self._skeletons: dict[tuple[Any, ...], _Skeleton | None] = {}
        # With auto-reload: the templates the skeletons were cut from, as Jinja holds them.
        self._built_from: dict[str, Template] | None = None

    def _still_current(self) -> bool:
        """Whether the skeletons may be used: always without auto-reload; with it, only if
        Jinja hands back the very templates they were cut from (it makes a new one when a
        file changed), and never if the page's templates cannot all be named."""
        if not self._templates.auto_reload:
            return True
        if self._built_from is None:
            names = _made_of(self._templates, TEMPLATE)
            if names is None:
                return False
            self._built_from = {name: self._templates.get_template(name) for name in names}
            return True
        for name, template in self._built_from.items():
            if self._templates.get_template(name) is not template:
                self._skeletons.clear()
                self._built_from = None
                return self._still_current()
        return True

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
        if not self._still_current():
            return self._jinja(context())
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


# What `Response(page, media_type=HTML, headers=NO_STORE)` sends, encoded once: the
# security headers and the request id are added on the way out (screen.app's
# `before_send`), as on every response.
_PAGE_HEADERS = (
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-type", b"text/html; charset=utf-8"),
)


class _AssembledASGIResponse(ASGIResponse):
    """The page's bytes with its fixed headers. `ASGIResponse.__init__` would work the
    same headers out again on every request through a case-insensitive mapping."""

    def __init__(self, body: bytes) -> None:
        headers = MutableScopeHeaders()
        headers.headers = [*_PAGE_HEADERS, (b"content-length", str(len(body)).encode())]
        self.headers = headers
        self.body = body
        self.content_length = len(body)
        self.background = None
        self.encoding = "utf-8"
        self.is_head_response = False
        self.status_code = 200
        self._encoded_cookies = ()


class AssembledPage(Response[bytes]):
    """The attempt page as `AttemptPages.render` made it: `Response.to_asgi_response`
    cost as much CPU as assembling the page (merging header mappings, picking a
    serialiser for bytes), so it is skipped when the route adds nothing to the response.
    Anything added (headers, cookies or a background task on a layer) goes the usual way."""

    def __init__(self, body: bytes) -> None:
        super().__init__(body, media_type="text/html", headers=dict(NO_STORE_HEADERS))

    def to_asgi_response(
        self,
        app: Any,
        request: Request[Any, Any, Any],
        *,
        background: BackgroundTask | BackgroundTasks | None = None,
        cookies: Iterable[Cookie] | None = None,
        encoded_headers: Iterable[tuple[bytes, bytes]] | None = None,
        headers: dict[str, str] | None = None,
        is_head_response: bool = False,
        media_type: Any = None,
        status_code: int | None = None,
        type_encoders: Any = None,
    ) -> ASGIResponse:
        if (
            background is None
            and not cookies
            and not encoded_headers
            and not headers
            and not is_head_response
            and not self.cookies
            and self.background is None
            and self.headers == NO_STORE_HEADERS
        ):
            return _AssembledASGIResponse(self.content)
        return super().to_asgi_response(
            app,
            request,
            background=background,
            cookies=cookies,
            encoded_headers=encoded_headers,
            headers=headers,
            is_head_response=is_head_response,
            media_type=media_type,
            status_code=status_code,
            type_encoders=type_encoders,
        )
