"""The composition record travels with the autosave: stored with the draft that carries it,
in order, never twice, refused whole when stale, malformed or oversized, and capped
without ever stopping the draft from saving (issue 16)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from screen.app import create_app
from screen.platform.clock import FrozenClock
from screen.settings import Settings
from tests.support.candidates import attempt_of, start
from tests.support.factories import Candidate, make_candidate
from tests.support.recording import replayed, stored_batches, typing

Client = AsyncTestClient[Litestar]
JSON = {"Accept": "application/json"}


async def save(
    client: Client,
    candidate: Candidate,
    revision: int,
    answer: str,
    composition: Any = None,
    save_id: str | None = None,
) -> Any:
    body: dict[str, Any] = {"revision": revision, "answer": answer}
    if composition is not None:
        body["composition"] = composition
    if save_id is not None:
        body["save_id"] = save_id
    return await client.post(f"{candidate.path}/draft", json=body, headers=JSON)


async def submit(client: Client, candidate: Candidate, form: dict[str, str]) -> Any:
    return await client.post(f"{candidate.path}/submit", data=form, follow_redirects=False)


async def started(client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock) -> Any:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)
    return candidate


async def test_batches_are_stored_in_order_and_replay_to_every_saved_draft(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await started(client, db, settings, clock)
    first = await save(client, candidate, 0, "Hello", {"seq": 1, "events": typing("Hello", 0)})
    clock.advance(seconds=10)
    # A paste, then a correction: "Hello world!" -> "Hello, world!"
    events = [[6_000, 5, 0, " world!", "p"], [8_000, 5, 0, ","]]
    second = await save(client, candidate, 1, "Hello, world!", {"seq": 2, "events": events})

    assert first.status_code == 200 and second.status_code == 200, second.text
    assert first.json()["composition"] == "recorded" and first.json()["composition_seq"] == 1
    assert second.json()["composition_seq"] == 2
    assert second.json()["elapsed_ms"] == 10_000
    attempt = await attempt_of(db, candidate)
    batches = await stored_batches(db, attempt.id)
    assert [b.seq for b in batches] == [1, 2]
    assert json.loads(batches[1].events) == events
    assert (attempt.composition_seq, attempt.composition_capped_at) == (2, None)
    assert attempt.composition_bytes == sum(b.size_bytes for b in batches)
    assert await replayed(db, attempt.id) == attempt.draft == "Hello, world!"


async def test_the_final_submit_carries_the_last_batch_and_the_record_replays_to_the_answer(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await started(client, db, settings, clock)
    await save(client, candidate, 0, "Use a queue", {"seq": 1, "events": typing("Use a queue", 0)})
    # Emoji count two UTF-16 units, as the page counts them.
    last = [[4_000, 11, 0, " 🚀"], [5_000, 0, 3, "Put"]]

    response = await submit(
        client,
        candidate,
        {"revision": "1", "answer": "Put a queue 🚀", "composition": json.dumps(last)[1:-1]},
    )
    # One batch object is what the page sends; the line above is a bare list of events.
    assert response.status_code == 400
    response = await submit(
        client,
        candidate,
        {
            "revision": "1",
            "answer": "Put a queue 🚀",
            "composition": json.dumps({"seq": 2, "events": last}),
        },
    )

    assert response.status_code == 303, response.text
    attempt = await attempt_of(db, candidate)
    assert attempt.final_answer == "Put a queue 🚀"
    assert attempt.composition_seq == 2
    assert await replayed(db, attempt.id) == attempt.final_answer


async def test_a_stale_batch_is_refused_and_neither_it_nor_the_draft_is_stored(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await started(client, db, settings, clock)
    await save(client, candidate, 0, "ab", {"seq": 1, "events": typing("ab", 0)})

    skipped = await save(client, candidate, 1, "abc", {"seq": 3, "events": typing("c", 2)})
    repeated = await save(client, candidate, 1, "abc", {"seq": 1, "events": typing("c", 2)})

    for refused in (skipped, repeated):
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"] == "stale_composition"
        assert "Reload the page" in refused.json()["message"]
    attempt = await attempt_of(db, candidate)
    assert (attempt.revision, attempt.draft, attempt.composition_seq) == (1, "ab", 1)
    assert [b.seq for b in await stored_batches(db, attempt.id)] == [1]


async def test_a_batch_on_a_stale_revision_gets_the_other_tab_409(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await started(client, db, settings, clock)
    await save(client, candidate, 0, "tab A", {"seq": 1, "events": typing("tab A", 0)})

    other_tab = await save(client, candidate, 0, "tab B", {"seq": 1, "events": typing("tab B", 0)})

    assert other_tab.status_code == 409
    assert other_tab.json()["error"] == "stale_revision"
    attempt = await attempt_of(db, candidate)
    assert await replayed(db, attempt.id) == attempt.draft == "tab A"


@pytest.mark.parametrize(
    "composition",
    [
        [],
        "seq=1",
        {"seq": 1},
        {"seq": 1, "events": [], "extra": True},
        {"seq": 0, "events": []},
        {"seq": "1", "events": []},
        {"seq": True, "events": []},
        {"seq": 1, "events": "abc"},
        {"seq": 1, "events": [[0, 0, 0]]},
        {"seq": 1, "events": [[0, -1, 0, "a"]]},
        {"seq": 1, "events": [[0, 0, 0, 5]]},
        {"seq": 1, "events": [[0, 0, 0, "a", "x"]]},
        {"seq": 1, "events": [[1.5, 0, 0, "a"]]},
        # The events as JSON text, as the page sends them.
        {"seq": 1, "events": "not json"},
        {"seq": 1, "events": "[[0,0,0]]"},
        {"seq": 1, "events": '[[0,0,0,"a","x"]]'},
        {"seq": 1, "events": '[[true,0,0,"a"]]'},
        {"seq": 1, "events": '{"t":0}'},
    ],
)
async def test_a_malformed_batch_gets_400_and_changes_nothing(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock, composition: Any
) -> None:
    candidate = await started(client, db, settings, clock)

    response = await save(client, candidate, 0, "text", composition)

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_composition"
    assert "composition" in response.json()["message"]
    attempt = await attempt_of(db, candidate)
    assert (attempt.revision, attempt.draft, attempt.composition_seq) == (0, "", 0)


async def test_events_sent_as_json_text_are_stored_as_sent_and_replay_the_same(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await started(client, db, settings, clock)
    # Compact, with escapes, a paste and an emoji: what JSON.stringify makes.
    compact = json.dumps(
        [[0, 0, 0, 'Say "hi"\n'], [900, 9, 0, "😀 ok", "p"]],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    spaced = '[ [1200, 14, 0, "!"] ]'

    first = await save(client, candidate, 0, 'Say "hi"\n😀 ok', {"seq": 1, "events": compact})
    second = await save(client, candidate, 1, 'Say "hi"\n😀 ok!', {"seq": 2, "events": spaced})

    assert first.status_code == second.status_code == 200, second.text
    attempt = await attempt_of(db, candidate)
    batches = await stored_batches(db, attempt.id)
    assert batches[0].events == compact  # verbatim
    assert batches[0].size_bytes == len(compact.encode())
    assert batches[1].events == '[[1200,14,0,"!"]]'  # unusual but valid: re-encoded
    assert await replayed(db, attempt.id) == attempt.draft == 'Say "hi"\n😀 ok!'


async def test_an_oversized_batch_gets_413_and_changes_nothing(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await started(client, db, settings, clock)
    huge_paste = {"seq": 1, "events": [[0, 0, 0, "x" * 300_000, "p"]]}
    too_many = {"seq": 1, "events": typing("y" * 5_001, 0)}
    as_text = [{"seq": 1, "events": json.dumps(b["events"])} for b in (huge_paste, too_many)]

    for composition in (huge_paste, too_many, *as_text):
        response = await save(client, candidate, 0, "x", composition)
        assert response.status_code == 413, response.text
        assert response.json()["error"] == "composition_too_large"
        assert "Nothing was saved" in response.json()["message"]
    attempt = await attempt_of(db, candidate)
    assert (attempt.revision, attempt.draft, attempt.composition_bytes) == (0, "", 0)
    assert await stored_batches(db, attempt.id) == []


async def test_past_the_cap_drafts_still_save_and_the_record_says_it_is_incomplete(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    capped = create_app(replace(settings, composition_max_bytes=200), clock=clock, run_jobs=False)
    async with AsyncTestClient(app=capped, base_url="http://testserver.local") as client:
        candidate = await started(client, db, settings, clock)
        small = await save(client, candidate, 0, "abc", {"seq": 1, "events": typing("abc", 0)})
        more = {"seq": 2, "events": typing("d" * 20, 3)}
        over = await save(client, candidate, 1, "abc" + "d" * 20, more)
        # The page stops sending batches; an old page that still does is not refused.
        rewrite = {"seq": 3, "events": [[9, 0, 23, "the end"]]}
        after = await save(client, candidate, 2, "the end", rewrite)
        plain = await save(client, candidate, 3, "the end.")
        page = await client.get(f"{candidate.path}/attempt")

    assert small.json()["composition"] == "recorded"
    for reply in (over, after):
        assert reply.status_code == 200, reply.text
        assert reply.json()["composition"] == "incomplete"
    assert plain.status_code == 200 and "composition" not in plain.json()
    attempt = await attempt_of(db, candidate)
    assert (attempt.revision, attempt.draft) == (4, "the end.")
    assert attempt.composition_capped_at == clock.now()
    assert attempt.composition_seq == 1
    # What the record holds replays to an earlier draft, never to a wrong one.
    assert await replayed(db, attempt.id) == "abc"
    assert "The record of how this answer was written is full" in page.text
    assert 'data-composition="incomplete"' in page.text


async def test_a_retry_of_a_save_whose_reply_was_lost_stores_its_batch_once(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await started(client, db, settings, clock)
    batch = {"seq": 1, "events": typing("lost reply", 0)}
    committed = await save(client, candidate, 0, "lost reply", batch, save_id="save-aaaaaaaa")
    clock.advance(seconds=5)

    retry = await save(client, candidate, 0, "lost reply", batch, save_id="save-aaaaaaaa")
    following = await save(
        client, candidate, 1, "lost reply!", {"seq": 2, "events": [[7_000, 10, 0, "!"]]}
    )

    assert committed.status_code == retry.status_code == following.status_code == 200
    assert retry.json()["revision"] == 1 and retry.json()["composition_seq"] == 1
    assert retry.json()["composition"] == "recorded"
    attempt = await attempt_of(db, candidate)
    assert [b.seq for b in await stored_batches(db, attempt.id)] == [1, 2]
    assert await replayed(db, attempt.id) == attempt.draft == "lost reply!"


async def test_a_submit_after_a_committed_save_whose_reply_was_lost_is_accepted(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    """Issue 15, finding 5's leftover: the page's revision is one behind through its own
    save, not another tab's; the submit names that save and is taken."""
    candidate = await started(client, db, settings, clock)
    first = {"seq": 1, "events": typing("draft", 0)}
    await save(client, candidate, 0, "draft", first, save_id="save-11111111")
    lost_batch = {"seq": 2, "events": typing(" two", 5, start_t=3_000)}
    lost = await save(client, candidate, 1, "draft two", lost_batch, save_id="save-22222222")
    assert lost.status_code == 200  # committed; the page never saw this reply
    since = {"seq": 3, "events": typing(" three", 9, start_t=6_000)}
    final = {"revision": "1", "answer": "draft two three"}

    without_id = await submit(client, candidate, final)
    other_id = await submit(client, candidate, {**final, "save_id": "save-99999999"})
    accepted = await submit(
        client,
        candidate,
        {**final, "save_id": "save-22222222", "composition": json.dumps([lost_batch, since])},
    )

    for refused in (without_id, other_id):
        assert refused.status_code == 409
        assert "another tab" in refused.text
    assert accepted.status_code == 303, accepted.text
    assert accepted.headers["location"] == f"{candidate.path}/done"
    attempt = await attempt_of(db, candidate)
    assert (attempt.state, attempt.final_answer) == ("submitted", "draft two three")
    assert [b.seq for b in await stored_batches(db, attempt.id)] == [1, 2, 3]
    assert await replayed(db, attempt.id) == attempt.final_answer


async def test_a_submit_whose_lost_save_never_arrived_stores_both_batches(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await started(client, db, settings, clock)
    await save(client, candidate, 0, "draft", {"seq": 1, "events": typing("draft", 0)})
    never_arrived = {"seq": 2, "events": typing(" two", 5, start_t=3_000)}
    since = {"seq": 3, "events": typing("!", 9, start_t=6_000)}

    response = await submit(
        client,
        candidate,
        {
            "revision": "1",
            "answer": "draft two!",
            "save_id": "save-33333333",
            "composition": json.dumps([never_arrived, since]),
        },
    )

    assert response.status_code == 303, response.text
    attempt = await attempt_of(db, candidate)
    assert [b.seq for b in await stored_batches(db, attempt.id)] == [1, 2, 3]
    assert await replayed(db, attempt.id) == attempt.final_answer == "draft two!"


async def test_a_submit_with_a_stale_or_malformed_final_batch_changes_nothing(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await started(client, db, settings, clock)
    await save(client, candidate, 0, "ab", {"seq": 1, "events": typing("ab", 0)})
    form = {"revision": "1", "answer": "abc"}

    stale = await submit(
        client, candidate, {**form, "composition": json.dumps({"seq": 4, "events": []})}
    )
    broken = await submit(client, candidate, {**form, "composition": "{not json"})
    gap = await submit(
        client,
        candidate,
        {**form, "composition": json.dumps([{"seq": 2, "events": []}, {"seq": 4, "events": []}])},
    )

    assert stale.status_code == 409 and "out of step" in stale.text
    assert broken.status_code == 400 and gap.status_code == 400
    attempt = await attempt_of(db, candidate)
    assert (attempt.state, attempt.draft, attempt.composition_seq) == ("started", "ab", 1)


async def test_without_javascript_the_form_post_works_and_the_record_is_absent(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await started(client, db, settings, clock)
    page = await client.get(f"{candidate.path}/attempt")
    assert 'name="composition" id="composition" value=""' in page.text

    # What a browser without the script posts: the hidden fields, empty.
    response = await submit(
        client,
        candidate,
        {"revision": "0", "answer": "Typed without script", "composition": "", "save_id": ""},
    )

    assert response.status_code == 303
    attempt = await attempt_of(db, candidate)
    assert attempt.final_answer == "Typed without script"
    assert (attempt.composition_seq, attempt.composition_bytes) == (0, 0)
    assert await stored_batches(db, attempt.id) == []
