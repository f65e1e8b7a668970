"""An account holds one or more roles: which combinations, what the header says, and the
last admin who cannot be removed. Routes × role combinations are walked in test_access.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from screen.accounts import users
from screen.cli import main
from screen.platform import migrate
from screen.platform.clock import FrozenClock
from screen.platform.db import create_engine
from screen.platform.errors import ConflictError, InputError
from screen.platform.models import AuditEvent, Role, User
from tests.support.factories import make_user
from tests.support.staff import sign_in

Client = AsyncTestClient[Litestar]


@pytest.mark.parametrize(
    "roles",
    ["reviewer,recruiter", "lead,admin", "reviewer,hiring_manager", "lead,recruiter,admin"],
)
def test_no_account_both_scores_and_sees_names(roles: str) -> None:
    with pytest.raises(InputError, match="Reviewers and leads score blind"):
        users.parse_roles(roles)


def test_roles_parse_from_a_list_or_commas_and_none_is_refused() -> None:
    assert users.parse_roles("Recruiter, admin") == {Role.RECRUITER, Role.ADMIN}
    assert users.parse_roles(["lead", "reviewer"]) == {Role.LEAD, Role.REVIEWER}
    with pytest.raises(InputError, match="Choose at least one role"):
        users.parse_roles(" , ")
    with pytest.raises(InputError, match="Role must be one of"):
        users.parse_roles("recruiter,owner")


async def test_an_account_with_two_roles_sees_both_in_its_header(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    both = await make_user(db, clock.now(), "recruiter,hiring_manager", name="Rae Both")
    await sign_in(client, both.email)

    page = await client.get("/recruiter")

    assert page.status_code == 200
    assert 'Rae Both <span class="role">· Recruiter, Hiring manager</span>' in page.text
    assert '<a href="/recruiter"' in page.text and '<a href="/hiring"' in page.text
    assert (await client.get("/hiring")).status_code == 200


async def test_the_last_active_admin_can_be_neither_demoted_nor_disabled(
    db: AsyncSession, clock: FrozenClock
) -> None:
    now = clock.now()
    admin = await make_user(db, now, "recruiter,admin")
    admin_id = admin.id

    with pytest.raises(ConflictError, match="last active admin"):
        await users.set_roles(db, admin, "recruiter", now, actor="test")
    with pytest.raises(ConflictError, match="last active admin"):
        await users.disable_user(db, admin, now, actor="test")
    await db.rollback()
    kept = await db.scalar(select(User).where(User.id == admin_id))
    assert kept is not None and kept.roles == {Role.RECRUITER, Role.ADMIN}
    assert kept.disabled_at is None

    await make_user(db, now, "admin")
    await users.set_roles(db, kept, "recruiter", now, actor="test")
    await db.commit()
    entry = await db.scalar(select(AuditEvent).where(AuditEvent.action == "user.roles_changed"))
    assert entry is not None
    assert entry.before == {"roles": ["admin", "recruiter"]}
    assert entry.after == {"roles": ["recruiter"]}


def test_the_command_line_gives_several_roles_and_refuses_a_blind_breaking_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCREEN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    create = ["users", "create", "--name", "Pat", "--password", "a long enough password"]

    both = runner.invoke(
        main, [*create, "--email", "pat@x.example", "--role", "recruiter", "--role", "admin"]
    )
    refused = runner.invoke(main, [*create, "--email", "sam@x.example", "--role", "lead,admin"])
    listed = runner.invoke(main, ["users", "list"])

    assert both.exit_code == 0, both.output
    assert "Created admin,recruiter Pat <pat@x.example>" in both.output
    assert refused.exit_code == 1 and "score blind" in refused.output
    assert "Traceback" not in refused.output
    assert "admin,recruiter" in listed.output and "sam@x.example" not in listed.output


async def test_the_migration_keeps_each_account_s_one_role(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await migrate.upgrade(engine, "0017")
        now = "2026-01-01 00:00:00"
        async with engine.begin() as conn:
            for email, role in (("a@x.example", "admin"), ("l@x.example", "lead")):
                await conn.execute(
                    text(
                        "INSERT INTO users (email, name, role, password_hash, created_at,"
                        " password_changed_at) VALUES (:e, 'N', :r, 'h', :t, :t)"
                    ),
                    {"e": email, "r": role, "t": now},
                )
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT users.email, user_roles.role FROM user_roles"
                        " JOIN users ON users.id = user_roles.user_id ORDER BY users.email"
                    )
                )
            ).all()
    finally:
        await engine.dispose()

    assert [tuple(row) for row in rows] == [("a@x.example", "admin"), ("l@x.example", "lead")]


def test_the_command_line_enables_a_disabled_account_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCREEN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    create = ["users", "create", "--name", "Pat", "--password", "a long enough password"]
    assert (
        runner.invoke(main, [*create, "--email", "a@x.example", "--role", "admin"]).exit_code == 0
    )
    assert (
        runner.invoke(main, [*create, "--email", "r@x.example", "--role", "reviewer"]).exit_code
        == 0
    )

    disabled = runner.invoke(main, ["users", "disable", "--email", "r@x.example"])
    enabled = runner.invoke(main, ["users", "enable", "--email", "r@x.example"])
    again = runner.invoke(main, ["users", "enable", "--email", "r@x.example"])
    listed = runner.invoke(main, ["users", "list"])

    assert disabled.exit_code == 0 and enabled.exit_code == 0, enabled.output
    assert "Enabled r@x.example" in enabled.output
    assert again.exit_code == 1 and "r@x.example is already active." in again.output
    assert "Traceback" not in again.output
    assert "(disabled)" not in listed.output
