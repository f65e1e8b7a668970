"""Autosaves are idempotent: a retry of a committed save whose reply was lost is
acknowledged, not refused as a change from another tab (issue 15, finding 5)."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.settings import Settings
from tests.support.candidates import attempt_of, start
from tests.support.factories import Candidate, make_candidate

Client = AsyncTestClient[Litestar]
JSON = {"Accept": "application/json"}


async def save(
    client: Client, candidate: Candidate, revision: int, answer: str, save_id: str | None
) -> Any:
    body: dict[str, Any] = {"revision": revision, "answer": answer}
    if save_id is not None:
        body["save_id"] = save_id
    return await client.post(f"{candidate.path}/draft", json=body, headers=JSON)


async def test_a_retry_of_a_committed_save_is_acknowledged_and_writes_nothing(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)
    await save(client, candidate, 0, "first", "save-aaaaaaaa")
    committed = await save(client, candidate, 1, "second", "save-bbbbbbbb")
    saved_at = (await attempt_of(db, candidate)).draft_saved_at
    clock.advance(seconds=20)

    # The reply to the second save was lost: the page retries it, based on revision 1.
    retry = await save(client, candidate, 1, "second", "save-bbbbbbbb")

    assert committed.status_code == 200
    assert retry.status_code == 200
    assert retry.json()["revision"] == committed.json()["revision"] == 2
    assert retry.json()["saved_at"] == committed.json()["saved_at"]
    attempt = await attempt_of(db, candidate)
    assert (attempt.revision, attempt.draft, attempt.draft_saved_at) == (2, "second", saved_at)


async def test_a_different_writer_with_the_old_revision_still_gets_409(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)
    await save(client, candidate, 0, "tab A text", "tab-a-save-1")

    other = await save(client, candidate, 0, "tab B text", "tab-b-save-1")
    # The same id with other text is not a retry of that save either.
    forged = await save(client, candidate, 0, "tab B text", "tab-a-save-1")

    for refused in (other, forged):
        assert refused.status_code == 409
        assert refused.json()["error"] == "stale_revision"
        assert "another tab" in refused.json()["message"]
    attempt = await attempt_of(db, candidate)
    assert (attempt.revision, attempt.draft) == (1, "tab A text")


async def test_an_older_save_id_is_not_acknowledged_once_a_newer_save_landed(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)
    await save(client, candidate, 0, "tab A text", "tab-a-save-1")
    await save(client, candidate, 1, "tab B text", "tab-b-save-1")

    late_retry = await save(client, candidate, 0, "tab A text", "tab-a-save-1")

    assert late_retry.status_code == 409
    attempt = await attempt_of(db, candidate)
    assert (attempt.revision, attempt.draft) == (2, "tab B text")


async def test_a_save_without_an_id_behaves_as_before(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)
    first = await save(client, candidate, 0, "text", None)

    repeat = await save(client, candidate, 0, "text", None)
    # A save without an id clears the last one, so an earlier id matches nothing.
    after_id = await save(client, candidate, 1, "more", "save-cccccccc")
    plain = await save(client, candidate, 2, "even more", None)
    old_id = await save(client, candidate, 1, "more", "save-cccccccc")

    assert first.status_code == 200 and first.json()["revision"] == 1
    assert repeat.status_code == 409 and repeat.json()["error"] == "stale_revision"
    assert after_id.status_code == 200 and plain.status_code == 200
    assert old_id.status_code == 409
    attempt = await attempt_of(db, candidate)
    assert (attempt.revision, attempt.draft, attempt.last_save_id) == (3, "even more", None)


async def test_a_malformed_save_id_gets_400_and_changes_nothing(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)

    for bad in ("short", "x" * 65, "has space in it", 12345678, ["save-aaaaaaaa"]):
        response = await client.post(
            f"{candidate.path}/draft",
            json={"revision": 0, "answer": "x", "save_id": bad},
            headers=JSON,
        )
        assert response.status_code == 400, bad
        assert "save_id" in response.json()["message"]
    attempt = await attempt_of(db, candidate)
    assert (attempt.revision, attempt.draft) == (0, "")
