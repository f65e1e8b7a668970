"""The prompt library in the browser: leads and admins upload a prompt file or edit the
newest version, checked exactly as `screen prompts check` checks the folder; a save is a
new immutable version, audited; refusals list every problem and save nothing; the folder
sync leaves a prompt saved in the browser alone; everyone who picks prompts can preview
them as a candidate and a reviewer see them. Through HTTP, as a browser would."""

from __future__ import annotations

import asyncio
import gc
import html
import re
from typing import Any

import pytest
from click.testing import CliRunner, Result
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.cli import main
from screen.platform.clock import FrozenClock
from screen.platform.models import Attempt, AuditEvent, Invitation, Prompt, Screen
from screen.platform.paths import PROMPTS_DIR
from screen.recruiting.prompt_authoring import MAX_FILE_BYTES, file_text
from screen.recruiting.prompts import check_library, check_prompt_text, sync_library
from screen.recruiting.screens import get_screen
from screen.settings import Settings
from tests.support.factories import DATA, SAMPLE_SLUG, make_screen, make_user
from tests.support.staff import csrf_token, post_form, sign_in

Client = AsyncTestClient[Litestar]
SAMPLE = (DATA / "prompts" / f"{SAMPLE_SLUG}.md").read_bytes()
NEW_SLUG = "vector-store-budget"
NEW_FILE = SAMPLE.replace(
    b'title: "Pick a vector store for a 2M-document search feature"',
    b'title: "Pick a vector store under a hard budget"',
)


async def _staff(app: Litestar, db: AsyncSession, clock: FrozenClock, role: str) -> Client:
    user = await make_user(db, clock.now(), role)
    client = AsyncTestClient(app=app, base_url="http://testserver.local")
    await client.__aenter__()
    await sign_in(client, user.email)
    await client.get("/lead/prompts")  # the CSRF cookie
    return client


async def _upload(client: Client, name: str, data: bytes, *, csrf: bool = True) -> Any:
    token = client.cookies.get("screen_csrf") if csrf else None
    return await client.post(
        "/lead/prompts/upload",
        data={"_csrf_token": token} if token else {},
        files={"file": (name, data, "text/markdown")},
        follow_redirects=False,
    )


async def _count(db: AsyncSession, model: Any) -> int:
    return int(await db.scalar(select(func.count()).select_from(model)) or 0)


def _problems(page: str) -> list[str]:
    listed = re.search(r'<div class="file-problems".*?</div>', page, re.S)
    assert listed, "no list of problems on the page"
    return [
        html.unescape(re.sub(r"<[^>]+>", "", li)).strip()
        for li in re.findall(r"<li>(.*?)</li>", listed.group(0), re.S)
    ]


async def test_a_lead_uploads_a_prompt_file_and_previews_it(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    lead = await _staff(app, db, clock, "lead")
    try:
        saved = await _upload(lead, f"{NEW_SLUG}.md", NEW_FILE)
        assert saved.status_code == 303, saved.text
        page = await lead.get(saved.headers["location"])
        prompt = await db.scalar(select(Prompt).where(Prompt.slug == NEW_SLUG))
        assert prompt is not None
        library = await lead.get("/lead/prompts")
        landing = await lead.get(f"/lead/prompts/{prompt.id}/candidate")
        attempt = await lead.get(f"/lead/prompts/{prompt.id}/candidate/attempt?ai=no_ai")
    finally:
        await lead.__aexit__(None, None, None)

    assert (prompt.version, prompt.source, prompt.created_by) == (1, "ui", prompt.created_by)
    assert prompt.created_by and prompt.created_by.startswith("lead-")
    assert prompt.source_text == NEW_FILE.decode()
    assert "Saved as version 1." in page.text
    # The rubric as reviewers see it: the desk's fieldsets, inert.
    assert "The rubric, as reviewers see it" in page.text
    assert "Trade-off: latency vs cost" in page.text and "weight 30%, floor 2" in page.text
    assert '<fieldset class="dimension" id="level.latency_vs_cost" disabled>' in page.text
    # Browse: area, time, the rubric in a line, where each version came from, its use.
    section = library.text.split(f'id="slug-{NEW_SLUG}"')[1].split("</section>")[0]
    assert "rag-retrieval" in section and "30 minutes" in section
    assert "4 dimensions (2 on trade-offs), levels 1–4; pass at a weighted mean ≥ 2.75" in section
    assert "In the browser</span> by lead-" in section
    assert "used by 0 screens" in section
    # The candidate's pages: the real templates, marked, with nothing behind them.
    for preview in (landing, attempt):
        assert preview.status_code == 200
        assert "Preview — nothing is saved." in preview.text
        assert "Pick a vector store under a hard budget" in preview.text
        assert "/s/preview" not in preview.text and 'action="/s/' not in preview.text
        assert preview.headers["cache-control"] == "no-store"
    assert "Start — 30 minutes" in landing.text
    assert f'action="/lead/prompts/{prompt.id}/candidate/attempt"' in landing.text
    assert 'data-remaining-ms="1800000"' in attempt.text
    assert "/static/prompt_preview.js" in attempt.text
    assert "autosave.js" not in attempt.text and "data-draft-url" not in attempt.text
    assert "AI-use policy: No AI assistants" in attempt.text
    assert await _count(db, Invitation) == 0 and await _count(db, Attempt) == 0
    event = await db.scalar(select(AuditEvent).where(AuditEvent.action == "prompt.uploaded"))
    assert event is not None and event.actor.startswith("user:")
    assert event.subject_id == str(prompt.id)
    assert event.after == {
        "slug": NEW_SLUG,
        "version": 1,
        "content_hash": prompt.content_hash,
        "title": "Pick a vector store under a hard budget",
    }


BAD_UPLOADS = [
    pytest.param(
        f"{NEW_SLUG}.md",
        NEW_FILE.replace(b"---\ntitle", b"title", 1),
        422,
        ["front matter: missing: the file must start with a --- YAML block ---"],
        id="no-front-matter",
    ),
    pytest.param(
        f"{NEW_SLUG}.md",
        re.sub(rb"\nrubric:.*?\n---", b"\n---", NEW_FILE, flags=re.S),
        422,
        ["rubric: missing or not a mapping"],
        id="no-rubric",
    ),
    pytest.param(
        f"{NEW_SLUG}.md",
        NEW_FILE.replace(b"area: rag-retrieval", b"area: databases").replace(
            b"duration_minutes: 30", b"duration_minutes: 90"
        ),
        422,
        ["area: must be one of", "duration_minutes: 90 is outside 30-45"],
        id="two-problems-both-listed",
    ),
    pytest.param(
        f"{NEW_SLUG}.md",
        NEW_FILE + b"\n" + b"x" * MAX_FILE_BYTES,
        413,
        ["file: 202 KB; the limit is 200 KB"],
        id="oversized",
    ),
    pytest.param(
        f"{NEW_SLUG}.md",
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
        422,
        ["file: holds NUL bytes: not a text file"],
        id="binary",
    ),
    pytest.param(
        f"{NEW_SLUG}.md",
        NEW_FILE.replace(b"hard budget", "budget \u00e0 respecter".encode("latin-1")),
        422,
        ["file: cannot be read as UTF-8"],
        id="not-utf-8",
    ),
    pytest.param(
        "prompt.pdf",
        NEW_FILE,
        422,
        ["file: must be a prompt file whose name ends in .md"],
        id="not-a-md-file",
    ),
    pytest.param(f"{NEW_SLUG}.md", b"   \n", 422, ["file: empty"], id="empty"),
]


@pytest.mark.parametrize(("name", "data", "status", "expected"), BAD_UPLOADS)
async def test_a_bad_upload_lists_its_problems_and_saves_nothing(
    app: Litestar,
    db: AsyncSession,
    clock: FrozenClock,
    name: str,
    data: bytes,
    status: int,
    expected: list[str],
) -> None:
    lead = await _staff(app, db, clock, "lead")
    try:
        refused = await _upload(lead, name, data)
    finally:
        await lead.__aexit__(None, None, None)

    assert refused.status_code == status
    assert "Nothing was changed. Please fix:" in refused.text
    assert 'id="file-problem"' in refused.text and 'aria-invalid="true"' in refused.text
    listed = _problems(refused.text)
    for message in expected:
        assert any(message in problem for problem in listed), (message, listed)
    assert len(listed) >= len(expected)
    assert await _count(db, Prompt) == 0
    assert await db.scalar(select(AuditEvent).where(AuditEvent.action.like("prompt.%"))) is None


async def test_a_file_saved_with_a_byte_order_mark_is_read_as_the_text_it_is(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    """Notepad on Windows writes UTF-8 with an invisible BOM; refusing it as "must start
    with ---" would tell the lead to fix what they cannot see."""
    lead = await _staff(app, db, clock, "lead")
    try:
        saved = await _upload(lead, f"{NEW_SLUG}.md", b"\xef\xbb\xbf" + NEW_FILE)
        assert saved.status_code == 303, _problems(saved.text)
        page = await lead.get(saved.headers["location"])
    finally:
        await lead.__aexit__(None, None, None)
    assert "Pick a vector store under a hard budget" in page.text
    prompt = await db.scalar(select(Prompt).where(Prompt.slug == NEW_SLUG))
    assert prompt is not None and prompt.title == "Pick a vector store under a hard budget"
    source, problems = check_prompt_text(f"{NEW_SLUG}.md", b"\xef\xbb\xbf" + NEW_FILE, None)
    assert problems == [] and source is not None and not source.text.startswith("\ufeff")


async def test_an_edit_saves_the_next_version_and_old_screens_keep_theirs(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())  # pinned to version 1 of the sample
    await db.commit()
    v1 = screen.prompt_id
    lead = await _staff(app, db, clock, "admin")
    try:
        form = await lead.get(f"/lead/prompts/{v1}/edit")
        typed = html.unescape(
            re.search(r'<textarea id="text"[^>]*>(.*?)</textarea>', form.text, re.S).group(1)
        )  # type: ignore[union-attr]
        # A refusal keeps what was typed, with every problem beside the field.
        broken = typed.replace("    pass_threshold: 2.75\n", "")
        refused = await post_form(lead, f"/lead/prompts/{v1}/edit", {"text": broken})
        edited = typed.replace(
            "duration_minutes: 30", "duration_minutes: 35\nchange_note: more time"
        )
        # As a browser sends a textarea: CRLF line breaks.
        saved = await post_form(
            lead,
            f"/lead/prompts/{v1}/edit",
            {"text": edited.replace("\n", "\r\n")},
            follow_redirects=False,
        )
        same = await post_form(lead, f"/lead/prompts/{v1}/edit", {"text": edited})
        too_long = await post_form(
            lead, f"/lead/prompts/{v1}/edit", {"text": edited + "x" * MAX_FILE_BYTES}
        )
    finally:
        await lead.__aexit__(None, None, None)

    assert typed == SAMPLE.decode()  # the file as it was synced
    assert refused.status_code == 422
    assert (
        "rubric.decision.pass_threshold: missing or not a number from 1 to 4"
        in _problems(refused.text)[0]
    )
    assert html.escape("duration_minutes: 30") in refused.text  # the typed text is back
    assert saved.status_code == 303
    versions = list(
        await db.scalars(select(Prompt).where(Prompt.slug == SAMPLE_SLUG).order_by(Prompt.version))
    )
    assert [(p.version, p.source, p.duration_minutes) for p in versions] == [
        (1, "folder", 30),
        (2, "ui", 35),
    ]
    assert versions[1].change_note == "more time"
    # The exemplars came along, checked against the edited rubric.
    assert versions[1].exemplars == versions[0].exemplars and versions[1].exemplars
    assert (await get_screen(db, screen.id)).prompt_id == v1
    assert same.status_code == 422 and "identical to version 2" in same.text
    assert too_long.status_code == 413 and "the limit is 200 KB" in too_long.text
    assert "change_note: more time" in too_long.text  # the typed text is kept
    events = list(await db.scalars(select(AuditEvent).where(AuditEvent.action == "prompt.edited")))
    assert len(events) == 1
    assert events[0].before == {"version": 1, "source": "folder"}
    assert events[0].after["version"] == 2  # type: ignore[index]


async def test_the_folder_sync_leaves_a_prompt_saved_in_the_browser_alone(
    app: Litestar, db: AsyncSession, clock: FrozenClock, tmp_path: Any
) -> None:
    screen = await make_screen(db, clock.now())
    await db.commit()
    lead = await _staff(app, db, clock, "lead")
    try:
        await lead.get(f"/lead/prompts/{screen.prompt_id}/edit")
        edited = SAMPLE.decode().replace("duration_minutes: 30", "duration_minutes: 40")
        saved = await post_form(
            lead, f"/lead/prompts/{screen.prompt_id}/edit", {"text": edited}, follow_redirects=False
        )
    finally:
        await lead.__aexit__(None, None, None)
    assert saved.status_code == 303

    # The folder file unchanged, then changed by someone else: neither is synced over it.
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / f"{SAMPLE_SLUG}.md").write_bytes(
        SAMPLE.replace(b"duration_minutes: 30", b"duration_minutes: 45")
    )
    (folder / f"{SAMPLE_SLUG}.exemplars.yaml").write_bytes(
        (DATA / "prompts" / f"{SAMPLE_SLUG}.exemplars.yaml").read_bytes()
    )
    for _ in range(2):
        result = await sync_library(db, check_library(DATA / "prompts").prompts, clock.now())
        assert result.created == [] and result.kept[0][:2] == (SAMPLE_SLUG, 2)
        result = await sync_library(db, check_library(folder).prompts, clock.now())
        assert result.created == [] and result.kept[0][:2] == (SAMPLE_SLUG, 2)
    newest = await db.scalar(
        select(Prompt).where(Prompt.slug == SAMPLE_SLUG).order_by(Prompt.version.desc())
    )
    assert newest is not None and (newest.version, newest.source, newest.duration_minutes) == (
        2,
        "ui",
        40,
    )

    # Taken back on purpose: the folder's file becomes the next version.
    taken = await sync_library(
        db, check_library(folder).prompts, clock.now(), take_back=frozenset({SAMPLE_SLUG})
    )
    assert taken.created == [(SAMPLE_SLUG, 3)]
    assert await _count(db, Screen) == 1


async def test_who_may_browse_preview_and_author(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    await db.commit()
    pid = screen.prompt_id
    seen: dict[str, dict[str, int]] = {}
    for role in ("recruiter", "reviewer", "hiring_manager", "lead", "admin"):
        client = await _staff(app, db, clock, role)
        try:
            await client.get("/review")
            token = await csrf_token(client, "/account/notifications")
            seen[role] = {
                "browse": (await client.get("/lead/prompts")).status_code,
                "version": (await client.get(f"/lead/prompts/{pid}")).status_code,
                "landing": (await client.get(f"/lead/prompts/{pid}/candidate")).status_code,
                "attempt": (await client.get(f"/lead/prompts/{pid}/candidate/attempt")).status_code,
                "edit-form": (await client.get(f"/lead/prompts/{pid}/edit")).status_code,
                "upload-form": (await client.get("/lead/prompts/upload")).status_code,
                "upload": (
                    await client.post(
                        "/lead/prompts/upload",
                        data={"_csrf_token": token},
                        # A refused role's request never reaches the handler, which closes
                        # the upload's temporary file: send the file only where it is read.
                        files=None
                        if role not in ("lead", "admin")
                        else {
                            "file": (
                                f"{NEW_SLUG}-{role}.md",
                                NEW_FILE.replace(b"hard budget", role.encode()),
                                "text/markdown",
                            )
                        },
                        follow_redirects=False,
                    )
                ).status_code,
            }
        finally:
            await client.__aexit__(None, None, None)

    readers = {"browse": 200, "version": 200, "landing": 200, "attempt": 200}
    assert seen["recruiter"] == readers | {"edit-form": 403, "upload-form": 403, "upload": 403}
    for role in ("reviewer", "hiring_manager"):
        assert set(seen[role].values()) == {403}, (role, seen[role])
    for role in ("lead", "admin"):
        assert seen[role] == readers | {"edit-form": 200, "upload-form": 200, "upload": 303}
    assert await db.scalar(select(func.count()).where(Prompt.source == "ui")) == 2


# Litestar's CSRF middleware parses the multipart body to look for the token and, when it
# refuses, never closes the upload's temporary file: Python says so when it collects it.
# Collected inside this test (below), so the warning cannot land on another test.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_an_upload_or_edit_without_the_csrf_token_is_refused(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    await db.commit()
    lead = await _staff(app, db, clock, "lead")
    try:
        upload = await _upload(lead, f"{NEW_SLUG}.md", NEW_FILE, csrf=False)
        edit = await lead.post(
            f"/lead/prompts/{screen.prompt_id}/edit", data={"text": SAMPLE.decode() + "\nmore"}
        )
    finally:
        await lead.__aexit__(None, None, None)

    gc.collect()
    assert upload.status_code == 403 and edit.status_code == 403
    assert "This form has expired or was sent from another site" in upload.text
    assert await _count(db, Prompt) == 1


async def test_an_edit_of_a_version_stored_before_its_text_was_kept_starts_from_its_fields(
    db: AsyncSession, clock: FrozenClock
) -> None:
    """Versions synced before `source_text` existed: the form is filled from the stored
    fields, and that text passes the same checks and means the same prompt."""
    library = check_library(PROMPTS_DIR)
    await sync_library(db, library.prompts, clock.now())
    for prompt in await db.scalars(select(Prompt)):
        prompt.source_text = None
        text = file_text(prompt)
        source, problems = check_prompt_text(f"{prompt.slug}.md", text.encode(), None)
        assert problems == [], (prompt.slug, problems)
        assert source is not None
        assert (source.title, source.area, source.body, source.duration_minutes) == (
            prompt.title,
            prompt.area,
            prompt.body,
            prompt.duration_minutes,
        )
        assert source.rubric.to_dict() == prompt.rubric
        assert (source.follow_ups.to_dict() if source.follow_ups else None) == prompt.follow_ups


async def test_the_sync_command_says_which_prompts_it_kept_and_takes_one_back(
    app: Litestar,
    db: AsyncSession,
    clock: FrozenClock,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    screen = await make_screen(db, clock.now())
    await db.commit()
    lead = await _staff(app, db, clock, "lead")
    try:
        edited = SAMPLE.decode().replace("duration_minutes: 30", "duration_minutes: 40")
        saved = await post_form(
            lead, f"/lead/prompts/{screen.prompt_id}/edit", {"text": edited}, follow_redirects=False
        )
    finally:
        await lead.__aexit__(None, None, None)
    assert saved.status_code == 303
    monkeypatch.setenv("SCREEN_DATABASE_URL", settings.database_url)
    folder = str(DATA / "prompts")

    def sync(*args: str) -> Result:
        return CliRunner().invoke(main, ["prompts", "sync", "--dir", folder, *args])

    kept = await asyncio.to_thread(sync)
    taken = await asyncio.to_thread(sync, "--take-back", SAMPLE_SLUG)

    assert kept.exit_code == 0, kept.output
    assert re.search(
        rf"kept +{SAMPLE_SLUG} v2 \(saved in the browser by lead-\S+; the folder file was not "
        rf"synced: --take-back {SAMPLE_SLUG} to sync it\)",
        kept.output,
    ), kept.output
    # The folder's file is version 1 already: nothing new to store, and it says so.
    assert taken.exit_code == 0, taken.output
    assert f"unchanged    {SAMPLE_SLUG} v1" in taken.output
    assert await _count(db, Prompt) == 2
