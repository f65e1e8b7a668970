"""The `screen` command: run the server, the demo, migrations, the prompt library, invitations."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    InvalidRequestError,
    NoSuchModuleError,
    SQLAlchemyError,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from screen.fairness import categories as self_id_categories
from screen.platform import migrate
from screen.platform.clock import SystemClock
from screen.platform.db import create_sessionmaker, engine_for
from screen.platform.errors import ConflictError, InputError, NotFoundError, ScreenError
from screen.platform.models import Role
from screen.platform.observability import configure_logging
from screen.platform.paths import PROMPTS_DIR
from screen.platform.schema_gate import WAIT_FOR_DATABASE_ENV
from screen.platform.web import database_unreachable
from screen.recruiting.prompts import FollowUps, check_library, sync_library, timing_warnings
from screen.settings import Settings, SettingsError, load_settings

T = TypeVar("T")
_log = logging.getLogger("screen.cli")


def _settings() -> Settings:
    try:
        settings = load_settings()
        # A deployment's self-identification questions are read now: a bad file stops the
        # command with a message naming SCREEN_SELF_ID_CATEGORIES, not a page later on.
        self_id_categories.configured(settings)
        return settings
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


def _masked(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        # Not a URL SQLAlchemy can read, so it cannot hide the password: hide the whole
        # user part instead.
        return re.sub(r"//.*@", "//***@", url)


def _unusable(url: str, error: Exception) -> click.ClickException:
    """One line for a database that cannot be opened: to someone who mistyped
    SCREEN_DATABASE_URL or whose server is down, a traceback says nothing more."""
    if isinstance(error, ArgumentError) and not isinstance(error, NoSuchModuleError):
        reason = "not a database URL (e.g. sqlite+aiosqlite:///screen.db)"
    elif isinstance(error, DBAPIError) and error.orig is not None:
        reason = str(error.orig)  # the driver's words, without SQLAlchemy's wrapping
    else:
        reason = str(error)
    # The first line is the driver's message; a TimeoutError has none, only its name.
    reason = (reason.strip() or type(error).__name__).splitlines()[0].rstrip(".")
    if isinstance(error, ImportError | InvalidRequestError):
        # Most often `postgresql://`, which names a driver Screen does not install.
        reason += " (Screen uses postgresql+asyncpg:// or sqlite+aiosqlite://)"
    return click.ClickException(
        f"Cannot use the database at {_masked(url)}: {reason}. Check SCREEN_DATABASE_URL."
    )


@asynccontextmanager
async def _database(settings: Settings, *, migrating: bool = False) -> AsyncIterator[AsyncEngine]:
    """The one way the CLI opens the database: connected, disposed after, and checked to be
    at this version's schema. Only `db upgrade`, `serve` and `demo` change the schema (they
    pass `migrating`); every other command refuses a database that is behind, saying which
    command brings it up to date, rather than migrating it as a side effect."""
    url = settings.database_url
    try:
        engine = engine_for(settings)
    except (SQLAlchemyError, ImportError, ValueError) as error:
        # A URL that does not parse, an unknown dialect, a driver that is not installed
        # or not async, a port that is not a number.
        raise _unusable(url, error) from None
    try:
        # Connect once on its own, so that only a failure to reach the database (missing
        # folder, refused connection, bad credentials) is reported as one; a failure
        # later, in a migration or a command, is a bug and keeps its traceback.
        try:
            async with engine.connect():
                pass
        except (SQLAlchemyError, OSError) as error:
            # aiosqlite's worker thread stops itself after a failed connect and reports
            # back to this loop; leaving asyncio.run first made it print "Event loop is
            # closed" from its thread, under our one-line message.
            await asyncio.sleep(0.1)
            raise _unusable(url, error) from None
        if not migrating:
            await _refuse_if_not_migrated(engine, url)
        yield engine
    finally:
        await engine.dispose()


async def _refuse_if_not_migrated(engine: AsyncEngine, url: str) -> None:
    current, head = await migrate.current_revision(engine), migrate.head_revision()
    if current == head:
        return
    where = f"The database at {_masked(url)}"
    if current is None:
        problem = f"{where} has no Screen tables yet."
    else:
        problem = f"{where} is at schema revision {current}; this version of Screen needs {head}."
    raise click.ClickException(f"{problem} Run `screen db upgrade` first.")


def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction, on a database at the current schema."""

    async def run() -> T:
        async with _database(settings) as engine, create_sessionmaker(engine)() as db, db.begin():
            return await work(db)

    return asyncio.run(run())


class _Commands(click.Group):
    """Turns a domain refusal (`ScreenError`) raised anywhere below, whether by an option's
    check while the command line is read or by the command itself, into one line on
    stderr and exit code 1, as the web layer turns it into a 4xx page."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ScreenError as error:
            raise click.ClickException(error.message) from None


# Ids are `integer` columns, 32 bits on PostgreSQL. A larger number cannot name a row, and
# the drivers refuse to send it (OverflowError on SQLite, DataError on PostgreSQL).
MAX_ID = 2**31 - 1
# Who the audit log names for what the command line does: whoever runs it on the server.
CLI_ACTOR = "cli"


def _screen_id(_ctx: click.Context, _param: click.Parameter, value: int) -> int:
    # Worded as screens.get_screen words a missing screen: to the user it is one.
    if not 1 <= value <= MAX_ID:
        raise NotFoundError(f"No screen with id {value}.", field="screen")
    return value


_screen_option = click.option(
    "--screen",
    "screen_id",
    type=int,
    required=True,
    callback=_screen_id,
    help="The screen's id, as `screen screens list` shows it.",
)
_port_option = click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(1, 65535)
)


@click.group(cls=_Commands)
def main() -> None:
    """Screen: timed written technical screens with blind, rubric-based reviews."""
    try:
        production = load_settings().production
    except SettingsError:
        production = False  # the command itself reports the problem
    configure_logging(Settings(production=production))


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (also done by `serve` and `demo` on start)."""
    before, after = asyncio.run(_migrate(_settings()))
    if before == after:
        click.echo(f"Database is up to date (revision {after}).")
    elif before is None:
        click.echo(f"Database created (revision {after}).")
    else:
        click.echo(f"Database upgraded from revision {before} to {after}.")


@main.group()
def prompts() -> None:
    """The prompt library."""


_dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Prompt folder (default: SCREEN_PROMPTS_DIR or the bundled library).",
)


def _prompts_dir(settings: Settings, directory: Path | None) -> Path:
    return directory or settings.prompts_dir or PROMPTS_DIR


def _follow_ups_note(follow_ups: FollowUps | None) -> str:
    if follow_ups is None:
        return ""
    scoring = f"scored by {follow_ups.scored_by}" if follow_ups.scored else "context only"
    return f", {len(follow_ups.questions)} follow-ups, {scoring}"


@prompts.command("check")
@_dir_option
def prompts_check(directory: Path | None) -> None:
    """Validate every prompt file; problems are printed as `file: field: message`.

    A prompt whose reading time plus the answer it asks for does not fit its duration
    gets a `warning:` line: the file is valid, but candidates would run out of time."""
    result = check_library(_prompts_dir(_settings(), directory))
    for problem in result.problems:
        click.echo(str(problem), err=True)
    if result.problems:
        raise click.ClickException(f"{len(result.problems)} problem(s) found.")
    for warning in timing_warnings(result.prompts):
        click.echo(f"warning: {warning}", err=True)
    for prompt in result.prompts:
        click.echo(
            f"ok  {prompt.slug}  ({prompt.area}, {prompt.duration_minutes} min, "
            f"{len(prompt.rubric.dimensions)} dimensions, {len(prompt.exemplars)} exemplars"
            + _follow_ups_note(prompt.follow_ups)
            + ")"
        )


@prompts.command("sync")
@_dir_option
@click.option(
    "--take-back",
    "take_back",
    multiple=True,
    metavar="SLUG",
    help="Sync this prompt's folder file even though its newest version was saved in the "
    "browser (repeatable).",
)
def prompts_sync(directory: Path | None, take_back: tuple[str, ...]) -> None:
    """Store changed prompt files as new immutable versions.

    A prompt whose newest version was uploaded or edited in the browser is left alone
    (listed as `kept`) unless named with --take-back."""
    settings = _settings()
    result = check_library(_prompts_dir(settings, directory))
    for problem in result.problems:
        click.echo(str(problem), err=True)
    if result.problems:
        raise click.ClickException("Fix the problems above; nothing was synced.")
    now = SystemClock().now()
    synced = _in_transaction(
        settings,
        lambda db: sync_library(db, result.prompts, now, take_back=frozenset(take_back)),
    )
    for slug, version in synced.created:
        click.echo(f"new version  {slug} v{version}")
    for slug, version in synced.unchanged:
        click.echo(f"unchanged    {slug} v{version}")
    for slug, version, by in synced.kept:
        click.echo(
            f"kept         {slug} v{version} (saved in the browser by {by}; the folder file "
            f"was not synced: --take-back {slug} to sync it)"
        )


@main.group()
def screens() -> None:
    """Screens (a recruiter's campaign on one prompt)."""


@screens.command("create")
@click.option(
    "--prompt", "prompt_slug", required=True, help="Prompt slug, e.g. rag-support-assistant."
)
@click.option(
    "--prompt-version",
    type=click.IntRange(1, MAX_ID),
    default=None,
    help="Pin a version (default: latest).",
)
@click.option("--title", required=True)
@click.option(
    "--duration",
    "duration_minutes",
    type=int,
    default=None,
    help="Minutes (default: the prompt's).",
)
@click.option("--link-valid-days", type=int, default=7, show_default=True)
@click.option(
    "--reviews",
    "reviews_required",
    type=int,
    default=None,
    help="Reviews per submission (default: the rubric's, usually 2).",
)
@click.option("--sla-days", "sla_business_days", type=int, default=5, show_default=True)
def screens_create(**options: Any) -> None:
    """Create a screen and print its id."""
    from screen.recruiting.screens import create_screen

    settings = _settings()
    now = SystemClock().now()

    async def work(db: AsyncSession) -> str:
        screen = await create_screen(db, now=now, actor=CLI_ACTOR, **options)
        return (
            f"Screen {screen.id} created: {screen.title} — {screen.prompt.slug} "
            f"v{screen.prompt.version}, {screen.duration_minutes} min, "
            f"links valid {screen.link_valid_days} days, {screen.reviews_required} reviews each."
        )

    click.echo(_in_transaction(settings, work))


@screens.command("list")
def screens_list() -> None:
    """List screens."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from screen.platform.models import Screen

    async def work(db: AsyncSession) -> list[str]:
        rows = await db.scalars(
            select(Screen).options(selectinload(Screen.prompt)).order_by(Screen.id)
        )
        return [
            f"{s.id:>4}  {s.title}  ({s.prompt.slug} v{s.prompt.version}, {s.duration_minutes} min)"
            for s in rows
        ]

    for line in _in_transaction(_settings(), work):
        click.echo(line)


@main.command("invite")
@_screen_option
@click.option("--name", required=True, help="Candidate's name.")
@click.option("--email", required=True, help="Candidate's email; the invitation is sent there.")
@click.option(
    "--accommodation", type=float, default=1.0, show_default=True, help="Time multiplier, 1.0-3.0."
)
@click.option("--external-id", default=None, help="The candidate's id in your ATS.")
def invite_command(
    screen_id: int, name: str, email: str, accommodation: float, external_id: str | None
) -> None:
    """Invite a candidate; the email is queued and the link printed."""
    from screen.recruiting.invitations import invite
    from screen.recruiting.screens import get_screen

    settings = _settings()
    now = SystemClock().now()

    async def work(db: AsyncSession) -> str:
        screen = await get_screen(db, screen_id)
        new = await invite(
            db,
            screen,
            name=name,
            email=email,
            now=now,
            base_url=settings.base_url,
            secret_key=settings.secret_key,
            accommodation=accommodation,
            external_id=external_id,
            actor=CLI_ACTOR,
        )
        return new.link

    link = _in_transaction(settings, work)
    click.echo(f"Invited {name} <{email}>. Candidate link (also emailed by the running server):")
    click.echo(link)


@main.group()
def users() -> None:
    """Staff accounts: admin, recruiter, hiring manager, reviewer, lead."""


# Not click's own prompt: that asks while the command line is read, before the command
# can check anything else, so a mistyped email cost two password entries.
_password_option = click.option(
    "--password",
    default=None,
    help="At least 10 characters; asked for (twice, hidden) when not given.",
)
ROLES = [role.value for role in Role]


def _ask_password() -> str:
    """A new password typed twice, hidden; ask only once everything else is checked."""
    from screen.accounts.users import MIN_PASSWORD_LENGTH, check_password_strength

    def strong(value: str) -> str:
        # Checked as soon as it is typed, so a short one is asked again before the
        # confirmation rather than refused after it.
        try:
            check_password_strength(value)
        except InputError as error:
            raise click.BadParameter(error.message) from None
        return value

    password: str = click.prompt(
        f"Password (at least {MIN_PASSWORD_LENGTH} characters)",
        hide_input=True,
        confirmation_prompt=True,
        value_proc=strong,
    )
    return password


async def _refuse_taken(db: AsyncSession, email: str) -> None:
    from screen.accounts.users import get_user_by_email

    try:
        await get_user_by_email(db, email)
    except NotFoundError:
        return
    raise ConflictError(f"A user with email {email} already exists.", field="email")


@users.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option(
    "--role",
    "roles",
    required=True,
    multiple=True,
    help=f"One of {', '.join(ROLES)}; repeat it (or separate with commas) for several.",
)
@_password_option
def users_create(email: str, name: str, roles: tuple[str, ...], password: str | None) -> None:
    """Create a staff account."""
    from screen.accounts.users import (
        check_password_strength,
        create_user,
        parse_roles,
        role_list,
    )
    from screen.platform.text import normalise_email

    settings = _settings()
    email = normalise_email(email).lower()  # as create_user stores it
    chosen_roles = parse_roles(",".join(roles))
    if password is not None:
        check_password_strength(password)
    _in_transaction(settings, lambda db: _refuse_taken(db, email))
    chosen = password if password is not None else _ask_password()
    now = SystemClock().now()

    async def work(db: AsyncSession) -> str:
        user = await create_user(
            db,
            email=email,
            name=name,
            roles=chosen_roles,
            password=chosen,
            now=now,
            actor=CLI_ACTOR,
        )
        held = ",".join(role_list(user.roles))
        return f"Created {held} {user.name} <{user.email}> (id {user.id})."

    click.echo(_in_transaction(settings, work))


@users.command("invite")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option(
    "--role",
    "roles",
    required=True,
    multiple=True,
    help=f"One of {', '.join(ROLES)}; repeat it (or separate with commas) for several.",
)
def users_invite(email: str, name: str, roles: tuple[str, ...]) -> None:
    """Invite a colleague: the account waits for them to choose a password through a link
    that works once, for 48 hours (emailed by the running server, and printed)."""
    from screen.accounts.staff_links import invite

    settings = _settings()
    now = SystemClock().now()

    async def work(db: AsyncSession) -> str:
        user, link = await invite(
            db,
            email=email,
            name=name,
            roles=",".join(roles),
            actor=CLI_ACTOR,
            sender="",
            now=now,
            base_url=settings.base_url,
            secret_key=settings.secret_key,
        )
        return f"Invited {user.name} <{user.email}>. Their link (also emailed):\n{link}"

    click.echo(_in_transaction(settings, work))


@users.command("set-password")
@click.option("--email", required=True)
@_password_option
def users_set_password(email: str, password: str | None) -> None:
    """Set a new password; the user's sessions end."""
    from screen.accounts.users import check_password_strength, get_user_by_email, set_password

    settings = _settings()
    if password is not None:
        check_password_strength(password)
    _in_transaction(settings, lambda db: get_user_by_email(db, email))  # exists, or no prompt
    chosen = password if password is not None else _ask_password()
    now = SystemClock().now()

    async def work(db: AsyncSession) -> str:
        user = await get_user_by_email(db, email)
        await set_password(db, user, chosen, now, actor=CLI_ACTOR)
        return f"Password changed for {user.email}; their sessions have ended."

    click.echo(_in_transaction(settings, work))


@users.command("disable")
@click.option("--email", required=True)
def users_disable(email: str) -> None:
    """Disable an account: it can no longer sign in and its sessions end at once."""
    from screen.accounts.users import disable_user, get_user_by_email

    now = SystemClock().now()

    async def work(db: AsyncSession) -> str:
        user = await get_user_by_email(db, email)
        await disable_user(db, user, now, actor=CLI_ACTOR)
        return f"Disabled {user.email}."

    click.echo(_in_transaction(_settings(), work))


@users.command("enable")
@click.option("--email", required=True)
def users_enable(email: str) -> None:
    """Let a disabled account sign in again (an admin locked out of the web needs this)."""
    from screen.accounts.users import enable_user, get_user_by_email

    now = SystemClock().now()

    async def work(db: AsyncSession) -> str:
        user = await get_user_by_email(db, email)
        await enable_user(db, user, now, actor=CLI_ACTOR)
        return f"Enabled {user.email}; they sign in with the password they had."

    click.echo(_in_transaction(_settings(), work))


@users.command("list")
def users_list() -> None:
    """List staff accounts."""
    from sqlalchemy import select

    from screen.accounts.users import role_list
    from screen.platform.models import User

    async def work(db: AsyncSession) -> list[str]:
        rows = await db.scalars(select(User).order_by(User.id))
        return [
            f"{u.id:>4}  {','.join(role_list(u.roles)):<16}  {u.email}  {u.name}"
            f"{'  (disabled)' if u.disabled_at else '  (invited)' if u.invited else ''}"
            for u in rows
        ]

    for line in _in_transaction(_settings(), work):
        click.echo(line)


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, or one line saying why there is none (a busy port, mostly)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as error:
        # create_server appends "(while attempting to bind on address ...)" to the
        # system's words; the line already names the address.
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise click.ClickException(
            f"Cannot listen on {host}:{port}: {reason}. "
            "Stop what uses it, or choose another port with --port."
        ) from None


def _refuse_busy_port(host: str, port: int) -> None:
    """Say so before anything else happens: the demo would otherwise seed data and print
    links to whatever already answers on that port, then fail in uvicorn."""
    _listen(host, port).close()


def _serve(settings: Settings, host: str, port: int, banner: list[str], workers: int = 1) -> None:
    import uvicorn

    from screen.app import create_app

    _refuse_busy_port(host, port)
    # Migrated here rather than in the app's start-up, so that a database that cannot be
    # used is one line from _database, before the banner, not a traceback from uvicorn.
    # A database that cannot be *reached* (down, restarting) is waited out instead: the
    # web processes start and answer 503 until it is usable, and this process migrates
    # it as soon as it answers (screen.platform.schema_gate).
    unreachable = asyncio.run(_unreachable(settings))
    if unreachable is None:
        asyncio.run(_migrate(settings))
    else:
        _log.warning(
            "The database at %s cannot be reached at start (%s): serving 503 until it "
            "answers, migrating it then",
            _masked(settings.database_url),
            unreachable,
        )
        os.environ[WAIT_FOR_DATABASE_ENV] = "1"  # for the worker processes of --workers N
        threading.Thread(
            target=_migrate_when_reachable, args=(settings,), name="migrate", daemon=True
        ).start()
    for line in banner:
        click.echo(line)
    sys.stdout.flush()
    # No access log: every candidate URL carries the candidate's secret link token.
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "proxy_headers": True,
        "access_log": False,
        "timeout_graceful_shutdown": 20,
        "log_config": None,
    }
    if workers > 1:
        # Several processes each build the app from the environment (screen.asgi).
        uvicorn.run("screen.asgi:create", factory=True, workers=workers, **options)
    else:
        uvicorn.run(create_app(settings, wait_for_database=unreachable is not None), **options)


async def _unreachable(settings: Settings) -> str | None:
    """Why the database cannot be reached (refused, timed out, shutting down), or None when
    it answers or fails otherwise (a bad URL or password is reported by `_migrate`)."""
    try:
        engine = engine_for(settings)
    except Exception:
        return None
    try:
        async with engine.connect():
            return None
    except Exception as error:
        if not database_unreachable(error):
            return None
        return " ".join(f"{type(error).__name__}: {error}".split())[:300]
    finally:
        await engine.dispose()


def _migrate_when_reachable(settings: Settings, first: float = 0.5, cap: float = 5.0) -> None:
    """In a thread of `screen serve`'s main process: migrate as soon as the database
    answers, retrying with capped backoff; the web processes' gates open once it has."""
    delay = first
    while True:
        try:
            before, after = asyncio.run(_migrate(settings))
        except Exception as error:  # unreachable still, or refused for now: try again
            _log.debug("migration not possible yet: %s", error)
            time.sleep(delay)
            delay = min(delay * 2, cap)
            continue
        _log.warning("The database answers: migrated from %s to %s", before, after)
        return


async def _migrate(settings: Settings) -> tuple[str | None, str | None]:
    """The revisions before and after (None: an empty database)."""
    async with _database(settings, migrating=True) as engine:
        return await migrate.upgrade(engine)


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@_port_option
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Web processes (each with its own database pool).",
)
def serve(host: str, port: int, workers: int) -> None:
    """Run the web server (migrations applied on start). Jobs run in this process unless
    SCREEN_REDIS_URL is set, in which case `screen worker` runs them."""
    settings = _settings()
    _serve(settings, host, port, [f"Screen serving on http://{host}:{port}"], workers)


@main.command("worker")
def worker() -> None:
    """Run an arq worker: emails, webhooks, the ATS callback, deadlines, reminders, the relay."""
    from screen.worker import run

    settings = _settings()
    if not settings.redis_url:
        raise click.ClickException(
            "SCREEN_REDIS_URL is not set: without Redis, `screen serve` runs the jobs itself."
        )
    # Rides out Redis outages: reconnects with backoff instead of exiting.
    run(settings)


DEMO_CSV = """name,email,external_id,accommodation
Grace Hopper,grace.hopper@example.com,ats-1001,
Alan Turing,alan.turing@example.com,ats-1002,1.5
Katherine Johnson,katherine.johnson@example.com,ats-1003,
Not An Email,not-an-email,ats-1004,
"""


@main.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@_port_option
def demo(host: str, port: int) -> None:
    """Prepare demo data (prompts, screens, candidates in every state) and serve it."""
    from screen.demo import prepare_demo
    from screen.review import model_client

    settings = _settings()
    if settings.base_url == Settings().base_url:
        settings = settings.with_overrides(base_url=f"http://{host}:{port}")
    if settings.model_enabled and not os.environ.get("SCREEN_MODEL_CONCURRENCY"):
        # The demo's model is most likely a llama.cpp server on this machine's CPU, which
        # computes one reply at a time: the demo's dozens of ratings take turns rather
        # than queue inside the server against their timeouts.
        settings = settings.with_overrides(model_concurrency=1)
    if settings.model_enabled and not os.environ.get("SCREEN_MODEL_TIMEOUT_SECONDS"):
        # And such a server needs minutes per reply, not the seconds a GPU takes: a call
        # cut off at 25 s left the server computing a reply no one would read.
        settings = settings.with_overrides(model_timeout_seconds=240.0)
    # Held from here on, through seeding, to the server: a second `screen demo` started
    # meanwhile is told at once that the port is taken, rather than seeding the same
    # database and failing in uvicorn with a traceback after printing its links.
    listener = _listen(host, port)
    try:
        asyncio.run(_migrate(settings))
        now = SystemClock().now()
        links = _in_transaction(settings, lambda db: prepare_demo(db, settings, now))
        # One quick request, so a model server that is not running is said in the banner,
        # not found later as failed ratings on the outbox page.
        model_problem = (
            asyncio.run(model_client.not_answering(settings)) if settings.model_enabled else None
        )
    except BaseException:
        listener.close()
        raise
    base = settings.base_url
    banner = [
        "",
        "Screen demo is ready. Open:",
        f"  Candidate link (fresh, not started):  {links.fresh_link}",
    ]
    if links.started_link:
        banner.append(f"  Candidate link (already started):    {links.started_link}")
    banner.append(f"  Staff sign-in:                       {base}/signin")
    banner.append(f"  Invite staff (as admin):             {base}/admin/users/invite")
    banner.append(
        f"  Recruiter dashboard:                 {base}/recruiter/screens/{links.screen_id}"
    )
    banner.append(f"  Adverse impact (lead, admin):        {base}/lead/fairness")
    banner.append(f"  Privacy and retention (admin):       {base}/admin/privacy")
    sample = Path("demo-candidates.csv")
    sample.write_text(DEMO_CSV, encoding="utf-8")
    banner.append(f"  Sample CSV to upload:                {sample.resolve()}")
    for account in links.accounts:
        banner.append(f"    {account.role:<14} {account.email:<28} password: {account.password}")
    if settings.model_enabled:
        banner += [
            f"  Model rater:                         model: {settings.model_name} at "
            f"{settings.model_url}",
            *(
                [
                    f"    ! The model server does not answer: {model_problem}. Start it or "
                    "fix SCREEN_MODEL_URL; until then each rating fails and the outbox "
                    "retries it."
                ]
                if model_problem
                else []
            ),
            f"    {links.model_ratings_waiting} answers wait for its rating (decided ones "
            "first, after its calibration on each prompt); ratings arrive over the next "
            "minutes, one at a time.",
            f"    Its agreement and the validity rule (lead): {base}/lead/agreement",
            f"    Its ratings in the outbox (admin):         {base}/admin/outbox",
        ]
    banner += [
        f"  Emails are written to:               {settings.mail_dir.resolve()}",
        "  Invite from another terminal (paste as it is):",
        *(f"    {line}" for line in _invite_command(settings, links.screen_id)),
        "Run `screen demo` again for another fresh candidate link. Ctrl+C stops the server.",
        "",
    ]
    _serve_demo(settings, listener, banner)


def _invite_command(settings: Settings, screen_id: int) -> list[str]:
    """A `screen invite` that works pasted into a new terminal: that terminal has neither
    this one's variables nor, often, the virtualenv (where `screen` may even be GNU
    screen), so it names this interpreter and every setting the command needs, with the
    SQLite file's path made absolute so it works from any directory."""
    import shlex

    env = {"SCREEN_BASE_URL": settings.base_url}
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        env["SCREEN_DATABASE_URL"] = url.set(
            database=str(Path(url.database).resolve())
        ).render_as_string(hide_password=False)
    elif url.password:
        # Never print a password the user did not type into this command: they fill it in.
        env["SCREEN_DATABASE_URL"] = _masked(settings.database_url)
    else:
        env["SCREEN_DATABASE_URL"] = settings.database_url
    for name in ("SCREEN_PROMPTS_DIR", "SCREEN_REDIS_URL"):
        if os.environ.get(name):
            value = os.environ[name]
            env[name] = str(Path(value).resolve()) if name.endswith("_DIR") else value
    words = [f"{k}={shlex.quote(v)}" for k, v in env.items()]
    words += [shlex.quote(sys.executable), "-m", "screen", "invite"]
    words += ["--screen", str(screen_id), "--name", shlex.quote("Ada Lovelace")]
    words += ["--email", "ada.lovelace@example.com"]
    lines = [" ".join(words)]
    if "***" in env["SCREEN_DATABASE_URL"]:
        lines.append("(with the database password in place of ***)")
    if os.environ.get("SCREEN_SECRET_KEY"):
        # Not printed: the server unseals the emailed link with it, so it must match.
        lines.append("(after `export SCREEN_SECRET_KEY=...` with this terminal's value)")
    return lines


def _serve_demo(settings: Settings, listener: socket.socket, banner: list[str]) -> None:
    """Serve on the socket held since the start, and print the banner only once the server
    accepts connections: "ready" then means a link opened at once works."""
    import uvicorn

    from screen.app import create_app

    app = create_app(settings)

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                # Two passes of the jobs: the seeded events, then what they queued. A model
                # rating may take minutes, hence the bound.
                await app.state.runner.settle(passes=2, within_seconds=30)
                for line in banner:
                    click.echo(line)
                sys.stdout.flush()

    # No access log: every candidate URL carries the candidate's secret link token.
    config = uvicorn.Config(
        app,
        log_level="info",
        proxy_headers=True,
        access_log=False,
        timeout_graceful_shutdown=20,
        log_config=None,
    )
    try:
        _Server(config).run(sockets=[listener])
    finally:
        listener.close()


@main.command("export")
@_screen_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "xlsx", "json"]),
    default="csv",
    show_default=True,
    help="json is one object per line.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False, writable=True),
    default=None,
    help="File to write (default: stdout for csv and json; required for xlsx).",
)
def export_command(screen_id: int, fmt: str, output: Path | None) -> None:
    """Export a screen's results; the export is recorded in the audit log (actor `cli`)."""
    from contextlib import AbstractContextManager, aclosing, nullcontext
    from typing import BinaryIO

    from screen.pipeline.exports import export_stream, start_export

    if fmt == "xlsx" and output is None:
        raise click.UsageError("XLSX is a binary file: give --output PATH.")
    settings = _settings()
    now = SystemClock().now()

    async def run(sink: BinaryIO) -> int:
        async with _database(settings) as engine:
            sessionmaker = create_sessionmaker(engine)
            async with sessionmaker() as db, db.begin():
                plan = await start_export(
                    db, screen_id, fmt, actor=CLI_ACTOR, now=now, base_url=settings.base_url
                )
            async with aclosing(export_stream(sessionmaker, plan, fmt)) as chunks:
                async for chunk in chunks:
                    sink.write(chunk)
            return plan.rows

    # Written beside the target and renamed when complete, so a failed export never
    # leaves a file that looks finished.
    partial = output.with_name(output.name + ".part") if output else None
    if output and not output.parent.is_dir():
        raise click.ClickException(f"No folder {output.parent} to write {output.name} into.")
    target: AbstractContextManager[BinaryIO] = (
        partial.open("wb") if partial else nullcontext(sys.stdout.buffer)
    )
    try:
        with target as sink:
            rows = asyncio.run(run(sink))
        if output and partial:
            partial.replace(output)
    finally:
        if partial:
            partial.unlink(missing_ok=True)
    where = str(output) if output else "stdout"
    click.echo(f"Exported {rows} row(s) of screen {screen_id} as {fmt} to {where}.", err=True)


@main.command("report")
@click.argument("invitation_id", type=int)
@click.option(
    "--pdf",
    "output",
    type=click.Path(path_type=Path, dir_okay=False, writable=True),
    required=True,
    help="File to write the candidate report to, as PDF.",
)
def report_command(invitation_id: int, output: Path) -> None:
    """Write a candidate's report as PDF; recorded in the audit log (actor `cli`).

    The command line is trusted like an admin: any invitation's report, email included.
    Before the decision is final the report shows only the state and the SLA due date.
    """
    from sqlalchemy import select
    from sqlalchemy.orm import joinedload

    from screen.platform.models import Invitation, Screen
    from screen.report.pdf import render_report_pdf
    from screen.report.reports import build_report, record_view

    missing = NotFoundError(f"No invitation with id {invitation_id}.", field="invitation")
    if not 1 <= invitation_id <= MAX_ID:
        raise missing
    if not output.parent.is_dir():
        raise click.ClickException(f"No folder {output.parent} to write {output.name} into.")
    settings = _settings()
    now = SystemClock().now()

    async def work(db: AsyncSession) -> bytes:
        invitation = await db.scalar(
            select(Invitation)
            .where(Invitation.id == invitation_id)
            .options(
                joinedload(Invitation.attempt),
                joinedload(Invitation.screen).joinedload(Screen.prompt),
                joinedload(Invitation.prompt),
            )
        )
        if invitation is None:
            raise missing
        pdf = render_report_pdf(await build_report(db, invitation, now))
        record_view(db, invitation, CLI_ACTOR, now, what="pdf")
        return pdf

    # Audited first, written after the commit: a report that left the database is on record
    # even if the file cannot be written.
    pdf = _in_transaction(settings, work)
    partial = output.with_name(output.name + ".part")
    try:
        partial.write_bytes(pdf)
        partial.replace(output)
    except OSError as error:
        raise click.ClickException(f"Cannot write {output}: {error.strerror or error}.") from None
    finally:
        partial.unlink(missing_ok=True)
    click.echo(f"Wrote the report of invitation {invitation_id} to {output} ({len(pdf):,} bytes).")


@main.group()
def candidates() -> None:
    """A candidate's data on request (erase, export-data) and the retention policy."""


def _invitation_id(invitation_id: int) -> int:
    if not 1 <= invitation_id <= MAX_ID:
        raise NotFoundError(f"No invitation with id {invitation_id}.", field="invitation")
    return invitation_id


async def _erasure_subject(db: AsyncSession, invitation_id: int) -> str:
    """Who an erasure would erase, in words; refused as the erasure itself would be."""
    from screen.operations.erasure import erasure_subject

    return await erasure_subject(db, invitation_id)


@candidates.command("erase")
@click.argument("invitation_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def candidates_erase(invitation_id: int, yes: bool) -> None:
    """Erase one candidate's personal data (docs/privacy.md says what goes and what stays).

    Audited as an erasure by `cli`; the pipeline gets a `candidate.erased` webhook.
    """
    from screen.operations.erasure import erase_candidate

    _invitation_id(invitation_id)
    settings = _settings()
    if not yes:
        # Named, so a mistyped id is caught before it erases someone else.
        who = _in_transaction(settings, lambda db: _erasure_subject(db, invitation_id))
        click.confirm(
            f"Erase the personal data of {who}? This cannot be undone",
            abort=True,
        )
    started = time.perf_counter()

    async def work(db: AsyncSession) -> dict[str, Any]:
        counts = await erase_candidate(db, invitation_id, actor=CLI_ACTOR, now=SystemClock().now())
        return counts.as_dict()

    counts = _in_transaction(settings, work)
    took = time.perf_counter() - started
    deleted = sum(counts["deleted"].values())
    click.echo(
        f"Erased the personal data of invitation {invitation_id} "
        f"({deleted} row(s) deleted, {took:.2f} s); its anonymous scores and decision stay."
    )


@candidates.command("export-data")
@click.argument("invitation_id", type=int)
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False, writable=True),
    help="File to write the JSON document to (default: stdout).",
)
def candidates_export_data(invitation_id: int, output: Path | None) -> None:
    """Everything held about one candidate as one JSON document, for an access request:
    the same document as the recruiter's download, to hand to the candidate; recorded in
    the audit log (actor `cli`)."""
    from screen.operations.data_access import candidate_data, encode

    _invitation_id(invitation_id)
    if output is not None and not output.parent.is_dir():
        raise click.ClickException(f"No folder {output.parent} to write {output.name} into.")
    settings = _settings()

    async def work(db: AsyncSession) -> bytes:
        return encode(
            await candidate_data(
                db,
                invitation_id,
                actor=CLI_ACTOR,
                now=SystemClock().now(),
                via="cli",
            )
        )

    body = _in_transaction(settings, work)
    if output is None:
        click.echo(body.decode("utf-8"))
        return
    try:
        output.write_bytes(body)
    except OSError as error:
        raise click.ClickException(f"Cannot write {output}: {error.strerror or error}.") from None
    click.echo(f"Wrote the data held about invitation {invitation_id} to {output}.", err=True)


@candidates.command("retention")
@click.option("--dry-run", is_flag=True, help="List what the run would erase; change nothing.")
@click.option("--all", "show_all", is_flag=True, help="With --dry-run, list every candidate.")
def candidates_retention(dry_run: bool, show_all: bool) -> None:
    """Apply the retention policy now (the daily job does this too), or show what it would
    erase. A run that erases anyone is audited with its counts (actor `cli`)."""
    from screen.accounts.privacy import retention_policy
    from screen.operations import retention

    if show_all and not dry_run:
        # `--all` reads as "list them all"; alone it would have erased everyone due.
        raise click.UsageError("--all only lists: add --dry-run. Nothing was erased.")
    settings = _settings()
    now = SystemClock().now()
    if dry_run:
        listed = None if show_all else 50

        async def look(db: AsyncSession) -> list[str]:
            policy = await retention_policy(db, settings)
            counts = await retention.due_counts(db, policy, now)
            total = counts[retention.DECIDED_RULE] + counts[retention.UNUSED_RULE]
            lines = [
                f"Policy: {policy.decided_days} days after the screen ended, "
                f"{policy.unused_days} days after an unused link expired.",
                f"The next run would erase {total} candidate(s): "
                f"{counts[retention.DECIDED_RULE]} ended, {counts[retention.UNUSED_RULE]} unused.",
            ]
            for due in await retention.due(db, policy, now, limit=listed):
                why = "ended" if due.rule == retention.DECIDED_RULE else "link expired"
                lines.append(
                    f"{due.invitation_id}\t{due.state}\t{why} {due.since:%Y-%m-%d}\t"
                    f"{due.screen_title}"
                )
            if listed is not None and total > listed:
                lines.append(f"... and {total - listed} more (--all lists them).")
            return lines

        click.echo("\n".join(_in_transaction(settings, look)))
        return

    async def run() -> tuple[int, int, float]:
        started = time.perf_counter()
        async with _database(settings) as engine:
            done = await retention.apply(
                create_sessionmaker(engine), settings, now, actor=CLI_ACTOR
            )
        return len(done.erased), done.batches, time.perf_counter() - started

    erased, batches, took = asyncio.run(run())
    click.echo(
        f"Erased the personal data of {erased} candidate(s) in {batches} batch(es), "
        f"{took:.1f} s; their anonymous scores and decisions stay."
    )
