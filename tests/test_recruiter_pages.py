"""The recruiter's pages forgive and confirm: a refused form comes back as the same page
with what was typed and the problem beside its field (and nothing changed); withdrawing
asks why and records it; archiving says what it does first; CSV columns from ATS exports
are recognised, reassignable on the preview and remembered per screen; the history names
people, not actor ids."""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.models import (
    Attempt,
    AttemptState,
    AuditEvent,
    Invitation,
    InvitationImport,
    Screen,
)
from screen.recruiting import outcomes
from screen.settings import Settings
from tests.support.factories import make_candidate, make_screen, make_user
from tests.support.staff import post_form, sign_in

Client = AsyncTestClient[Litestar]


async def recruiter_client(app: Litestar, db: AsyncSession, clock: FrozenClock) -> Client:
    user = await make_user(
        db, clock.now(), "recruiter", email="rosa@staff.example", name="Rosa Recruiter"
    )
    client = AsyncTestClient(app=app, base_url="http://testserver.local")
    await client.__aenter__()
    await sign_in(client, user.email)
    return client


async def count(db: AsyncSession, model: type, *where: object) -> int:
    return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def beside(html: str, field: str, message: str) -> bool:
    """The message is shown next to the field, and the field points at it."""
    return (
        f'<p class="field-problem" id="{field}-problem">{message}' in html
        and f'aria-describedby="{field}-problem"' in html
    )


async def test_inviting_one_candidate_with_a_bad_email_keeps_the_form_as_typed(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    await db.commit()
    client = await recruiter_client(app, db, clock)
    path = f"/recruiter/screens/{screen.id}"
    try:
        page = await client.get(f"{path}/invite")
        refused = await post_form(
            client,
            f"{path}/invitations",
            {"name": "Grace Hopper", "email": "grace@", "external_id": "gh-9", "accommodation": ""},
        )
        bad_multiplier = await post_form(
            client,
            f"{path}/invitations",
            {"name": "Grace Hopper", "email": "grace@example.com", "accommodation": "9"},
        )
    finally:
        await client.__aexit__(None, None, None)

    assert page.status_code == 200
    assert refused.status_code == 400
    assert 'value="Grace Hopper"' in refused.text and 'value="gh-9"' in refused.text
    assert 'value="grace@"' in refused.text
    assert 'id="email-problem"' in refused.text and 'aria-invalid="true"' in refused.text
    assert '<h1 id="invite-page-title">Invite candidates</h1>' in refused.text
    assert bad_multiplier.status_code == 400
    assert beside(bad_multiplier.text, "accommodation", "Accommodation is a time multiplier")
    assert 'value="9"' in bad_multiplier.text
    assert await count(db, Invitation) == 0


async def test_the_screen_form_keeps_what_was_typed_on_create_and_edit(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now(), title="Data platform")
    await db.commit()
    client = await recruiter_client(app, db, clock)
    try:
        await client.get("/recruiter/screens/new")
        created = await post_form(
            client,
            "/recruiter/screens",
            {
                "prompt_id": str(screen.prompt_id),
                "title": "Search infra, spring",
                "duration_minutes": "90",
                "reminder_hours": "12",
            },
        )
        edited = await post_form(
            client,
            f"/recruiter/screens/{screen.id}/edit",
            {
                "title": "Renamed",
                "link_valid_days": "400",
                "reviews_required": "2",
                "sla_business_days": "5",
            },
        )
    finally:
        await client.__aexit__(None, None, None)

    assert created.status_code == 400
    assert beside(created.text, "duration_minutes", "Duration must be 30-45 minutes.")
    assert 'value="Search infra, spring"' in created.text and 'value="90"' in created.text
    assert edited.status_code == 400
    assert beside(edited.text, "link_valid_days", "Link validity must be 1 to 60 days.")
    assert 'value="Renamed"' in edited.text and 'value="400"' in edited.text
    assert await count(db, Screen) == 1
    stored = await db.get(Screen, screen.id, populate_existing=True)
    assert stored is not None and stored.title == "Data platform"


async def test_withdraw_asks_for_a_reason_and_records_it_with_who_withdrew(
    app: Litestar, db: AsyncSession, clock: FrozenClock, settings: Settings
) -> None:
    candidate = await make_candidate(db, settings, clock.now(), name="Kit Withdrawn")
    client = await recruiter_client(app, db, clock)
    base = f"/recruiter/invitations/{candidate.invitation_id}"
    try:
        before = await client.get(base)
        confirm = await client.get(f"{base}/withdraw")
        no_reason = await post_form(client, f"{base}/withdraw", {"reason": "   "})
        state_after_refusal = await db.scalar(
            select(Attempt.state).where(Attempt.invitation_id == candidate.invitation_id)
        )
        withdrawn = await post_form(
            client,
            f"{base}/withdraw",
            {"reason": "Accepted another offer"},
            follow_redirects=False,
        )
        after = await client.get(withdrawn.headers["location"])
        crafted = await client.get(f"{base}?done=<b>hacked</b>")
    finally:
        await client.__aexit__(None, None, None)

    # The candidate's page links to a confirmation page rather than withdrawing at once.
    assert f'href="{base}/withdraw"' in before.text
    assert f'action="{base}/withdraw"' not in before.text
    assert confirm.status_code == 200
    assert "This cannot be undone" in confirm.text and "Keep it" in confirm.text
    assert no_reason.status_code == 400
    assert beside(no_reason.text, "reason", "Say why the invitation is withdrawn.")
    assert state_after_refusal == AttemptState.INVITED
    assert withdrawn.status_code == 303
    assert withdrawn.headers["location"].endswith("?done=withdrawn")
    assert "The invitation was withdrawn" in after.text
    assert "Reason: Accepted another offer" in after.text
    assert "Rosa Recruiter" in after.text and "user:" not in after.text
    [event] = await db.scalars(select(AuditEvent).where(AuditEvent.action == "invitation.withdraw"))
    assert event.after is not None and event.after["reason"] == "Accepted another offer"
    # A notice is chosen by a flag, never echoed from the address.
    assert "hacked" not in crafted.text


async def test_archive_says_what_it_does_before_doing_it(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    await db.commit()
    client = await recruiter_client(app, db, clock)
    path = f"/recruiter/screens/{screen.id}"
    try:
        dashboard = await client.get(path)
        confirm = await client.get(f"{path}/archive")
        archived_before_confirming = await db.scalar(
            select(Screen.archived_at).where(Screen.id == screen.id)
        )
        archived = await post_form(client, f"{path}/archive", follow_redirects=False)
        after = await client.get(archived.headers["location"])
        restored = await post_form(client, f"{path}/archive", {"restore": "1"})
    finally:
        await client.__aexit__(None, None, None)

    assert f'href="{path}/archive"' in dashboard.text  # a link to the question, not a button
    assert "stops new invitations" in confirm.text and "can be undone" in confirm.text
    assert archived_before_confirming is None
    assert archived.headers["location"].endswith("?done=archived")
    assert "The screen is archived: it takes no new invitations." in after.text
    assert "The screen is restored" in restored.text


async def test_resend_and_outcomes_say_they_worked_and_name_who_did_them(
    app: Litestar, db: AsyncSession, clock: FrozenClock, settings: Settings
) -> None:
    candidate = await make_candidate(db, settings, clock.now(), name="Lin Resent")
    client = await recruiter_client(app, db, clock)
    base = f"/recruiter/invitations/{candidate.invitation_id}"
    try:
        await client.get(base)
        resent = await post_form(client, f"{base}/resend")
        invitation = await db.get(Invitation, candidate.invitation_id)
        assert invitation is not None
        await db.refresh(invitation, ["attempt"])
        invitation.attempt.state = AttemptState.PASSED
        await outcomes.record_outcome(
            db, invitation, "offer", "Signed", "api:Greenhouse", clock.now()
        )
        await db.commit()
        page = await client.get(base)
    finally:
        await client.__aexit__(None, None, None)

    assert resent.status_code == 200
    assert "The invitation email is on its way again" in resent.text
    assert "API key Greenhouse" in page.text
    assert "Invitation email sent again" in page.text and "Rosa Recruiter" in page.text
    assert "api:Greenhouse" not in page.text


async def upload(client: Client, path: str, content: str | bytes) -> Any:
    await client.get(path + "/invite")
    data = content.encode() if isinstance(content, str) else content
    return await client.post(
        f"{path}/import",
        data={"_csrf_token": client.cookies.get("screen_csrf") or ""},
        files={"file": ("export.csv", data, "text/csv")},
    )


def selected(html: str) -> list[str]:
    """The role chosen for each column on the preview."""
    return re.findall(r'<option value="([a-z_]+)" selected>', html)


ATS_EXPORTS = {
    "greenhouse": (
        "Candidate ID,First Name,Last Name,Email Address,Job,Stage\n"
        "4411,Ada,Lovelace,ada@example.com,ML Engineer,Screen\n",
        ["external_id", "first_name", "last_name", "email", "ignore", "ignore"],
    ),
    "lever": (
        "Opportunity ID,Name,Email,Phone,Origin\n"
        "8f2c-11,Alan Turing,alan@example.com,+44 20 7946 0000,sourced\n",
        ["external_id", "name", "email", "ignore", "ignore"],
    ),
    "workday": (
        "Application ID,Legal Name - First Name,Legal Name - Last Name,Primary Email Address\n"
        "JR-77,Grace,Hopper,grace@example.com\n",
        ["external_id", "first_name", "last_name", "email"],
    ),
    "ashby": (
        "candidate_name;E-mail;external_id\nKatherine Johnson;kj@example.com;ash-3\n",
        ["name", "email", "external_id"],
    ),
}


async def test_ats_export_headers_are_recognised(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    await db.commit()
    client = await recruiter_client(app, db, clock)
    path = f"/recruiter/screens/{screen.id}"
    try:
        previews = {ats: await upload(client, path, text) for ats, (text, _) in ATS_EXPORTS.items()}
    finally:
        await client.__aexit__(None, None, None)

    for ats, (_, roles) in ATS_EXPORTS.items():
        preview = previews[ats]
        assert preview.status_code == 200, (ats, preview.text[:300])
        assert selected(preview.text) == roles, ats
        assert "1 ready, 0 with problems" in preview.text, ats
    staged = list(await db.scalars(select(InvitationImport).order_by(InvitationImport.id)))
    assert [(r["name"], r["external_id"]) for s in staged for r in s.rows] == [
        ("Ada Lovelace", "4411"),
        ("Alan Turing", "8f2c-11"),
        ("Grace Hopper", "JR-77"),
        ("Katherine Johnson", "ash-3"),
    ]
    assert "Invite 1 candidate</button>" in previews["greenhouse"].text


async def test_columns_are_reassigned_on_the_preview_and_remembered_per_screen(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    other = await make_screen(db, clock.now(), title="Another screen")
    await db.commit()
    french = "nom,courriel,poste\nMarie Curie,marie@example.com,Recherche\n"
    client = await recruiter_client(app, db, clock)
    path = f"/recruiter/screens/{screen.id}"
    try:
        first = await upload(client, path, french)
        import_id = re.search(r"/import/(\d+)/columns", first.text)
        assert import_id
        columns_path = f"{path}/import/{import_id.group(1)}/columns"
        clash = await post_form(
            client,
            columns_path,
            {"columns": "3", "column-0": "email", "column-1": "email", "column-2": "ignore"},
        )
        chosen = await post_form(
            client,
            columns_path,
            {"columns": "3", "column-0": "name", "column-1": "email", "column-2": "ignore"},
        )
        confirm = re.search(r"/import/(\d+)/confirm", chosen.text)
        assert confirm
        confirmed = await post_form(client, confirm.group(0).join([path, ""]))
        again = await upload(client, path, french.replace("Marie", "Pierre").replace("marie", "p"))
        elsewhere = await upload(client, f"/recruiter/screens/{other.id}", french)
    finally:
        await client.__aexit__(None, None, None)

    # Nothing recognisable: the recruiter is asked to choose, on the preview.
    assert first.status_code == 422
    assert "No column is set to Email" in first.text
    assert "Invite" not in re.sub(r"Invite candidates", "", first.text.split("<main")[1])
    assert clash.status_code == 422
    assert "2 columns are set to Email (nom, courriel)" in clash.text
    assert selected(clash.text) == ["email", "email", "ignore"]  # kept as chosen
    assert chosen.status_code == 200
    assert "1 ready, 0 with problems" in chosen.text
    assert confirmed.status_code == 200
    assert "1 candidate invited" in confirmed.text
    # The same header set on the same screen arrives mapped as chosen; not on another.
    assert again.status_code == 200
    assert selected(again.text) == ["name", "email", "ignore"]
    assert "Set as you chose them for the last file" in again.text
    assert elsewhere.status_code == 422
    stored = await db.get(Screen, screen.id, populate_existing=True)
    assert stored is not None and stored.csv_mappings == {
        "nom|courriel|poste": ["name", "email", "ignore"]
    }
    names = set(await db.scalars(select(Invitation.candidate_name)))
    assert names == {"Marie Curie"}
    # A confirmed upload keeps no second copy of the file.
    sources = list(await db.scalars(select(InvitationImport.source)))
    assert sources.count(None) == 1
