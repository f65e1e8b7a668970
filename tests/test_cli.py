"""The `screen` command as a recruiter uses it before the web UI exists."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner

from screen.cli import main
from screen.platform.paths import PROMPTS_DIR
from tests.support.factories import DATA
from tests.support.smtp import free_port

LINK = re.compile(r"https?://[\w.:-]+/s/[A-Za-z0-9_-]{32}")


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SCREEN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("SCREEN_PROMPTS_DIR", str(DATA / "prompts"))
    monkeypatch.setenv("SCREEN_MAIL_DIR", str(tmp_path / "mail"))
    monkeypatch.setenv("SCREEN_BASE_URL", "https://screen.example.com")
    # Only `db upgrade`, `serve` and `demo` change the schema; the other commands need it.
    assert CliRunner().invoke(main, ["db", "upgrade"]).exit_code == 0
    return tmp_path


def run(*args: str, typed: str | None = None) -> tuple[int, str]:
    """Exit code and what a person sees in the terminal: stdout and stderr together.
    `typed` is what they type at prompts."""
    result = CliRunner().invoke(main, list(args), input=typed)
    return result.exit_code, result.output


def run_for_stdout(*args: str) -> tuple[int, str]:
    """Exit code and stdout alone, what a pipe gets. Logs go to stderr, and in a shared
    test process they can be anyone's (an SMTP server thread timing out a connection)."""
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout


def test_a_recruiter_creates_a_screen_and_invites_from_the_command_line(cli_env: Path) -> None:
    synced = run_for_stdout("prompts", "sync")
    created = run("screens", "create", "--prompt", "sample-decision", "--title", "Platform team")
    invited = run(
        "invite",
        "--screen",
        "1",
        "--name",
        "Noor Candidate",
        "--email",
        "noor@example.com",
        "--accommodation",
        "1.25",
        "--external-id",
        "gh-123",
    )
    listed = run("screens", "list")

    assert synced == (0, "new version  sample-decision v1\n")
    assert created[0] == 0
    assert "Screen 1 created: Platform team — sample-decision v1, 30 min" in created[1]
    assert invited[0] == 0
    assert LINK.search(invited[1])
    assert invited[1].count("https://screen.example.com/s/") == 1
    assert "Platform team" in listed[1]


def test_db_upgrade_says_what_it_did(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCREEN_DATABASE_URL", f"sqlite+aiosqlite:///{cli_env / 'fresh.db'}")
    created = run_for_stdout("db", "upgrade")
    again = run_for_stdout("db", "upgrade")

    assert created[0] == 0 and created[1].startswith("Database created (revision ")
    assert again[0] == 0 and again[1].startswith("Database is up to date (revision ")


def test_cli_input_errors_are_messages_not_tracebacks(cli_env: Path) -> None:
    run("prompts", "sync")
    run("screens", "create", "--prompt", "sample-decision", "--title", "Platform team")

    unknown_prompt = run("screens", "create", "--prompt", "nope", "--title", "X")
    bad_email = run("invite", "--screen", "1", "--name", "A", "--email", "not-an-email")
    bad_accommodation = run(
        "invite", "--screen", "1", "--name", "A", "--email", "a@example.com", "--accommodation", "9"
    )
    no_screen = run("invite", "--screen", "42", "--name", "A", "--email", "a@example.com")
    run("invite", "--screen", "1", "--name", "A", "--email", "a@example.com")
    duplicate = run("invite", "--screen", "1", "--name", "A", "--email", "A@EXAMPLE.com")

    assert unknown_prompt[0] == 1 and "No prompt 'nope'" in unknown_prompt[1]
    assert bad_email[0] == 1 and "not a valid email address" in bad_email[1]
    assert bad_accommodation[0] == 1 and "time multiplier from 1 to 3" in bad_accommodation[1]
    assert no_screen[0] == 1 and "No screen with id 42" in no_screen[1]
    assert "already invited" in duplicate[1]
    for _, output in (unknown_prompt, bad_email, bad_accommodation, no_screen, duplicate):
        assert "Traceback" not in output


HUGE = "99999999999999999999"


def test_ids_and_numbers_too_large_for_the_database_are_messages(cli_env: Path) -> None:
    """The web UI answers 404 for such an id; the CLI says the same thing."""
    run("prompts", "sync")
    run("screens", "create", "--prompt", "sample-decision", "--title", "Platform team")

    invite = run("invite", "--screen", HUGE, "--name", "A", "--email", "a@example.com")
    export = run("export", "--screen", HUGE)
    version = run(
        "screens", "create", "--prompt", "sample-decision", "--prompt-version", HUGE, "--title", "X"
    )
    days = run(
        "screens",
        "create",
        "--prompt",
        "sample-decision",
        "--link-valid-days",
        HUGE,
        "--title",
        "X",
    )
    port = run("serve", "--port", "70000")

    assert invite[0] == 1 and f"No screen with id {HUGE}." in invite[1]
    assert export[0] == 1 and f"No screen with id {HUGE}." in export[1]
    assert version[0] == 2 and "'--prompt-version'" in version[1]
    assert days[0] == 1 and "Link validity must be 1 to 60 days." in days[1]
    assert port[0] == 2 and "'--port': 70000 is not in the range" in port[1]
    for _, output in (invite, export, version, days, port):
        assert "Traceback" not in output


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("nonsense", "at nonsense: not a database URL"),
        ("sqlite+aiosqlite:///{tmp}/missing/x.db", "x.db: unable to open database file."),
        # Nothing listens on port 1: refused at once. The password never appears.
        (
            "postgresql+asyncpg://postgres:hunter2@127.0.0.1:1/x",
            "at postgresql+asyncpg://postgres:***@127.0.0.1:1/x: ",
        ),
    ],
    ids=["not-a-url", "missing-folder", "refused"],
)
def test_a_database_that_cannot_be_used_is_one_line(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, url: str, shown: str
) -> None:
    monkeypatch.setenv("SCREEN_DATABASE_URL", url.format(tmp=cli_env))

    code, output = run("screens", "list")

    assert code == 1
    assert output.startswith("Error: Cannot use the database at "), output
    assert shown in output
    assert output.endswith(" Check SCREEN_DATABASE_URL.\n")
    assert len(output.splitlines()) == 1
    assert "hunter2" not in output


@pytest.mark.parametrize(
    "command",
    [
        ["db", "upgrade"],
        ["prompts", "sync"],
        ["invite", "--screen", "1", "--name", "A", "--email", "a@example.com"],
        ["export", "--screen", "1"],
        ["users", "create", "--email", "a@example.com", "--name", "A", "--role", "admin"],
        ["users", "set-password", "--email", "a@example.com"],
        ["serve"],
    ],
    ids=" ".join,
)
def test_every_command_reports_an_unusable_database_the_same_way(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("SCREEN_DATABASE_URL", "sqlite:///plain-sqlite-is-not-async.db")

    code, output = run(*command)

    assert code == 1
    assert output.startswith("Error: Cannot use the database at sqlite:///plain-sqlite"), output
    assert "Password" not in output  # refused before anyone types one
    assert "Traceback" not in output


def test_user_commands_check_everything_before_asking_for_a_password(cli_env: Path) -> None:
    bad_email = run("users", "create", "--email", "bad", "--name", "X", "--role", "admin")
    created = run(
        "users",
        "create",
        "--email",
        "lea@staff.example",
        "--name",
        "Lea",
        "--role",
        "lead",
        typed="short\na long enough password\na long enough password\n",
    )
    taken = run("users", "create", "--email", "Lea@Staff.example", "--name", "L", "--role", "lead")
    no_user = run("users", "set-password", "--email", "ghost@staff.example")
    changed = run(
        "users",
        "set-password",
        "--email",
        "lea@staff.example",
        typed="another good password\nanother good password\n",
    )

    assert bad_email[0] == 1 and "'bad' is not a valid email address" in bad_email[1]
    assert taken[0] == 1 and "A user with email lea@staff.example already exists." in taken[1]
    assert no_user[0] == 1 and "No user with email ghost@staff.example." in no_user[1]
    for _, output in (bad_email, taken, no_user):
        assert "Password" not in output
        assert "Traceback" not in output
    # A short password is asked again at once, not after it has been typed twice.
    assert created[0] == 0, created[1]
    assert "Error: The password must be at least 10 characters." in created[1]
    assert created[1].count("Repeat for confirmation") == 1
    assert "Created lead Lea <lea@staff.example>" in created[1]
    assert changed[0] == 0 and "their sessions have ended" in changed[1]


def test_production_mode_refuses_to_start_without_a_secret(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCREEN_ENV", "production")

    code, output = run("db", "upgrade")

    assert code == 1
    assert "SCREEN_SECRET_KEY" in output


@pytest.mark.slow  # about 5 s: the demo migrates, seeds and starts a server
def test_screen_demo_serves_a_working_candidate_link(tmp_path: Path) -> None:
    """The README's first command, end to end: it prints a link that opens the RAG prompt."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCREEN_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "screen", "demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = ""
        # The demo seeds months of history first (about 15 s on a busy 2-core machine).
        deadline = time.monotonic() + 120
        assert process.stdout is not None
        while "Ctrl+C" not in output and time.monotonic() < deadline:
            output += process.stdout.readline()
        links = LINK.findall(output)
        assert links, output
        for _ in range(100):
            try:
                landing = httpx.get(links[0], timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        started = httpx.get(links[1], timeout=5, follow_redirects=True)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)  # a busy machine's in-process runner finishes its job first
        if process.stdout:
            output += process.stdout.read()
            process.stdout.close()

    assert f"http://127.0.0.1:{port}/s/" in links[0]
    assert landing.status_code == 200
    assert "Choose a retrieval architecture" in landing.text
    assert started.status_code == 200
    assert "Time left" in started.text
    assert (tmp_path / "screen.db").exists()
    token = links[0].rsplit("/", 1)[1]
    assert output.count(token) == 1  # printed once in the banner, never logged by a request
    assert "reviewer@demo.screen" in output
    assert "hiring_manager manager@demo.screen" in " ".join(output.split())
    # `screen invite` in another terminal needs this server's address, not the default port's.
    assert f"SCREEN_BASE_URL=http://127.0.0.1:{port} SCREEN_DATABASE_URL=" in output
    # The first answer a demo reviewer gets (the planted near-copy, front of the queue)
    # answers the RAG prompt beside it, not another prompt of the library.
    with sqlite3.connect(tmp_path / "screen.db") as database:
        [(planted,)] = database.execute(
            "SELECT a.final_answer FROM attempts a JOIN invitations i ON a.invitation_id = i.id"
            " WHERE i.candidate_email = 'planted.copy@example.com'"
        ).fetchall()
    rag = yaml.safe_load((PROMPTS_DIR / "rag-support-assistant.exemplars.yaml").read_text())
    first_rag_answer = rag["exemplars"][0]["answer"]
    shared = set(planted.split()) & set(first_rag_answer.split())
    assert len(shared) > 0.5 * len(set(first_rag_answer.split()))
    # As the README says: the lead finds two answers waiting for adjudication (the
    # decided history was decided by the rule and never reached the lead's queue).
    with sqlite3.connect(tmp_path / "screen.db") as database:
        [(waiting,)] = database.execute(
            "SELECT count(*) FROM decisions WHERE outcome = 'needs_adjudication'"
        ).fetchall()
    assert waiting == 2


# Two workers take about 5 s to start and stop; one worker keeps the quick subset's check.
@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_a_production_web_process_writes_only_json_log_lines(tmp_path: Path, workers: int) -> None:
    """`screen serve` as production runs it: every line on stderr is JSON (the framework's
    own logging setup had replaced ours with its text format)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCREEN_")}
    env.update(
        SCREEN_ENV="production",
        SCREEN_SECRET_KEY="a-production-secret-for-this-test-0123456789",
        SCREEN_METRICS_TOKEN="a-metrics-token-for-this-test",
        SCREEN_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'prod.db'}",
        SCREEN_BASE_URL=f"http://127.0.0.1:{port}",
    )
    log = tmp_path / "stderr.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "screen", "serve", "--port", str(port)]
            + (["--workers", str(workers)] if workers > 1 else []),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).is_success:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            missing = httpx.get(f"http://127.0.0.1:{port}/s/{'x' * 32}", timeout=5)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)

    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert missing.status_code == 404
    assert lines, "the server logged nothing"
    entries = [json.loads(line) for line in lines]  # fails on any line that is not JSON
    assert any(entry["logger"].startswith("uvicorn") for entry in entries)
    assert all({"time", "level", "logger", "message", "request_id"} <= e.keys() for e in entries)
