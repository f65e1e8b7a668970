"""`screen demo` as a new user runs it: "ready" means the links work, a second demo on the
same port is one line, the printed invite command works pasted into a new terminal, and the
data is what a real team's would be (answers real candidates could have written, every
state, months of decisions)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from screen.platform.paths import PROMPTS_DIR
from tests.support.model_server import ChatPeer, rating
from tests.support.smtp import free_port

LINK = re.compile(r"https?://[\w.:-]+/s/[A-Za-z0-9_-]{32}")
READY = "Screen demo is ready"


@dataclass
class Demo:
    port: int
    workdir: Path
    banner: str
    first_try: httpx.Response
    second: subprocess.CompletedProcess[str]
    process: subprocess.Popen[str]


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SCREEN_")}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """One `screen demo` for the module (it seeds for several seconds), and a second one
    started on the same port while the first is still seeding."""
    workdir = tmp_path_factory.mktemp("demo")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "screen", "demo", "--port", str(port)],
        cwd=workdir,
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        # The port is taken from the first moment, before the seeding is done.
        give_up = time.monotonic() + 120  # Python's start alone took 30 s on a loaded machine
        while True:
            try:
                with httpx.Client() as probe:
                    probe.get(f"http://127.0.0.1:{port}/healthz", timeout=0.05)
            except httpx.ConnectError:
                assert time.monotonic() < give_up, "the demo never listened"
                time.sleep(0.05)
                continue
            except httpx.TimeoutException:
                pass  # listening, not yet answering: the socket is held while seeding
            break
        second = subprocess.run(
            [sys.executable, "-m", "screen", "demo", "--port", str(port)],
            cwd=tmp_path_factory.mktemp("second"),
            env=_clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        banner = ""
        assert process.stdout is not None
        # Until the banner's last line, or the end of the output if the demo died.
        while "Ctrl+C" not in banner and (line := process.stdout.readline()):
            banner += line
        assert READY in banner, banner
        # No retry: once "ready" is printed, the first request is answered.
        first_try = httpx.get(LINK.findall(banner)[0], timeout=10)
        yield Demo(port, workdir, banner, first_try, second, process)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        if process.stdout:
            process.stdout.close()


@pytest.mark.slow  # the module's demo seeds and starts a server: about 15 s on 2 cores
def test_ready_is_printed_only_once_the_server_answers(demo: Demo) -> None:
    assert demo.first_try.status_code == 200
    assert "Choose a retrieval architecture" in demo.first_try.text


@pytest.mark.slow
def test_the_banner_lists_the_fairness_and_privacy_pages(demo: Demo) -> None:
    base = f"http://127.0.0.1:{demo.port}"
    assert f"{base}/lead/fairness" in demo.banner
    assert f"{base}/admin/privacy" in demo.banner


@pytest.mark.slow
def test_the_candidate_sees_the_demo_organisations_name_and_logo(demo: Demo) -> None:
    landing = demo.first_try.text
    logo_src = re.search(r'<img class="org-logo" src="(/organisation/logo\?v=[0-9a-f]+)"', landing)
    assert logo_src, landing[:2000]
    logo = httpx.get(f"http://127.0.0.1:{demo.port}{logo_src.group(1)}", timeout=10)

    assert '<span class="org-name">Northwind Analytics</span>' in landing
    assert "— Northwind Analytics</title>" in landing
    assert "Powered by Screen" in landing
    assert "talent@northwind.example" in landing
    assert logo.status_code == 200
    assert logo.headers["content-type"] == "image/svg+xml"
    assert (
        logo.headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    )
    assert logo.content.startswith(b"<?xml") and b"<svg" in logo.content


@pytest.mark.slow
def test_a_second_demo_on_the_busy_port_says_so_in_one_line(demo: Demo) -> None:
    lines = demo.second.stderr.strip().splitlines()

    assert demo.second.returncode == 1
    assert lines == [
        f"Error: Cannot listen on 127.0.0.1:{demo.port}: Address already in use. "
        "Stop what uses it, or choose another port with --port."
    ]
    assert READY not in demo.second.stdout


@pytest.mark.slow
def test_the_invite_hint_works_pasted_into_a_new_terminal(demo: Demo, tmp_path: Path) -> None:
    lines = demo.banner.splitlines()
    hint = lines[lines.index("  Invite from another terminal (paste as it is):") + 1].strip()
    # A new terminal: another directory, no virtualenv on PATH, no SCREEN_* variables.
    pasted = subprocess.run(
        ["/bin/sh", "-c", hint],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert pasted.returncode == 0, pasted.stderr
    assert "Invited Ada Lovelace <ada.lovelace@example.com>" in pasted.stdout
    [link] = LINK.findall(pasted.stdout)
    assert link.startswith(f"http://127.0.0.1:{demo.port}/s/")
    landing = httpx.get(link, timeout=10)
    assert landing.status_code == 200
    assert "Choose a retrieval architecture" in landing.text
    # The running demo emails the invitation to its mail folder.
    give_up = time.monotonic() + 60
    while not any(
        "ada.lovelace@example.com" in p.read_text(errors="replace")
        for p in (demo.workdir / "mail").glob("*.eml")
    ):
        assert time.monotonic() < give_up, "no invitation email for the pasted invite"
        time.sleep(0.5)


def _exemplar_paragraphs() -> set[str]:
    paragraphs = set()
    for path in PROMPTS_DIR.glob("*.exemplars.yaml"):
        for exemplar in yaml.safe_load(path.read_text(encoding="utf-8"))["exemplars"]:
            paragraphs |= {p.strip() for p in exemplar["answer"].split("\n\n")}
    return paragraphs


@pytest.mark.slow
def test_every_demo_answer_is_one_a_candidate_wrote(demo: Demo) -> None:
    """Paragraphs of the library's exemplars, whole: never words shuffled into nonsense."""
    library = _exemplar_paragraphs()
    with sqlite3.connect(demo.workdir / "screen.db") as database:
        answers = database.execute(
            "SELECT i.candidate_email, a.final_answer FROM attempts a"
            " JOIN invitations i ON a.invitation_id = i.id JOIN screens s ON i.screen_id = s.id"
            " WHERE a.final_answer IS NOT NULL AND s.ai_policy != 'ai_disclosed'"
        ).fetchall()

    assert len(answers) >= 40
    for email, answer in answers:
        foreign = [p for p in answer.split("\n\n") if p.strip() not in library]
        assert not foreign, f"{email}: not from the library: {foreign[0][:80]!r}"


@pytest.mark.slow
def test_the_demo_holds_a_realistic_pipeline(demo: Demo) -> None:
    with sqlite3.connect(demo.workdir / "screen.db") as database:
        states = dict(
            database.execute(
                "SELECT a.state, count(*) FROM attempts a JOIN invitations i"
                " ON a.invitation_id = i.id WHERE i.screen_id = 1 GROUP BY a.state"
            ).fetchall()
        )
        months = dict(
            database.execute(
                "SELECT strftime('%Y-%m', a.submitted_at), count(*) FROM decisions d"
                " JOIN attempts a ON a.id = d.attempt_id JOIN invitations i"
                " ON a.invitation_id = i.id WHERE i.screen_id = 1"
                " AND d.outcome IN ('pass', 'fail') GROUP BY 1 ORDER BY 1"
            ).fetchall()
        )
        outcomes = database.execute("SELECT count(*) FROM candidate_outcomes").fetchone()[0]
        planted = database.execute(
            "SELECT a.final_answer FROM attempts a JOIN invitations i ON a.invitation_id = i.id"
            " WHERE i.candidate_email = 'planted.copy@example.com'"
        ).fetchone()[0]

    assert sum(states.values()) >= 30
    for state in (
        "invited", "opened", "started", "submitted", "auto_submitted", "in_review",
        "needs_adjudication", "passed", "failed", "withdrawn", "expired",
    ):  # fmt: skip
        assert states.get(state, 0) >= 1, (state, states)
    assert states["needs_adjudication"] == 2
    # Several months with enough decided answers for the agreement figures (10), and
    # the oldest with too few, so the charts show a gap.
    counts = list(months.values())
    assert counts[0] < 10, months
    assert sum(1 for c in counts if c >= 10) >= 3, months
    assert outcomes >= 5
    # The first answer a demo reviewer gets (the planted near-copy) answers the RAG prompt
    # beside it: paragraphs of its first exemplar.
    rag = yaml.safe_load((PROMPTS_DIR / "rag-support-assistant.exemplars.yaml").read_text())
    first = {p.strip() for p in rag["exemplars"][0]["answer"].split("\n\n")}
    assert all(p.strip() in first for p in planted.split("\n\n"))


@pytest.mark.slow
def test_the_demo_shows_retention_and_erases_a_candidate(demo: Demo, tmp_path: Path) -> None:
    """The retention dry run lists what the demo's short policy would erase, and erasing
    one of them removes the candidate: on a copy of the demo's database, so the other
    tests here read it untouched."""
    copy = tmp_path / "copy.db"
    with sqlite3.connect(demo.workdir / "screen.db") as source, sqlite3.connect(copy) as target:
        source.backup(target)
    env = {**_clean_env(), "SCREEN_DATABASE_URL": f"sqlite+aiosqlite:///{copy}"}

    def screen(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "screen", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout

    dry = screen("candidates", "retention", "--dry-run")
    assert re.search(r"The next run would erase [1-9]\d* candidate\(s\)", dry), dry
    invitation_id = dry.splitlines()[2].split("\t")[0]
    with sqlite3.connect(copy) as database:
        (name,) = database.execute(
            "SELECT candidate_name FROM invitations WHERE id = ?", (invitation_id,)
        ).fetchone()
    erased = screen("candidates", "erase", invitation_id, "--yes")
    assert f"Erased the personal data of invitation {invitation_id}" in erased
    with sqlite3.connect(copy) as database:
        text = "\n".join(line for line in database.iterdump())
    assert name not in text


@contextmanager
def _peer_in_a_thread(peer: ChatPeer) -> Iterator[ChatPeer]:
    """The fault-injection peer on its own event loop, so a demo process can call it."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(peer.__aenter__(), loop).result(10)
    try:
        yield peer
    finally:
        asyncio.run_coroutine_threadsafe(peer.__aexit__(None, None, None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _sign_in(client: httpx.Client, email: str, password: str) -> None:
    page = client.get("/signin")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    done = client.post(
        "/signin", data={"email": email, "password": password, "_csrf_token": token.group(1)}
    )
    assert done.status_code in (200, 303), done.text[:500]


def _model_rated_decided(database_path: Path) -> int:
    with sqlite3.connect(database_path) as database:
        return int(
            database.execute(
                "SELECT count(*) FROM model_ratings m JOIN decisions d"
                " ON d.attempt_id = m.attempt_id WHERE m.status = 'rated'"
                " AND m.prompt_slug = 'rag-support-assistant'"
                " AND d.outcome != 'needs_adjudication'"
            ).fetchone()[0]
        )


@pytest.mark.slow  # a demo of its own, with a model server answering at once: about 30 s
def test_with_a_model_configured_the_demo_has_it_rate_the_answers(tmp_path: Path) -> None:
    port = free_port()
    with _peer_in_a_thread(ChatPeer(default=rating(3))) as peer:
        process = subprocess.Popen(
            [sys.executable, "-m", "screen", "demo", "--port", str(port)],
            cwd=tmp_path,
            env={**_clean_env(), "SCREEN_MODEL_URL": peer.url, "SCREEN_MODEL_NAME": "peer"},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            banner = ""
            assert process.stdout is not None
            while "Ctrl+C" not in banner and (line := process.stdout.readline()):
                banner += line
            waiting = re.search(r"(\d+) answers wait for its rating", banner)
            assert waiting, banner
            assert "does not answer" not in banner  # the peer lists its models at once
            assert f"http://127.0.0.1:{port}/lead/agreement" in banner
            with sqlite3.connect(tmp_path / "screen.db") as database:
                decided = database.execute(
                    "SELECT count(*) FROM decisions d JOIN attempts a ON a.id = d.attempt_id"
                    " JOIN invitations i ON i.id = a.invitation_id JOIN prompts p"
                    " ON p.id = i.prompt_id WHERE p.slug = 'rag-support-assistant'"
                    # Waiting for a lead is not decided: the model's figures leave it out.
                    " AND d.outcome != 'needs_adjudication'"
                ).fetchone()[0]
            # Every finished answer, the decided ones among them, waits for the model.
            assert int(waiting.group(1)) > decided >= 30
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=30, follow_redirects=True) as client:
                _sign_in(client, "lead@demo.screen", "lead-demo-pass")
                path = "/lead/agreement?prompt=rag-support-assistant"
                # The model may still be rating when the banner prints (on a loaded
                # machine): wait for every decided answer's rating, as a lead would
                # watch the live counter, then ask for the figures as a lead would.
                give_up = time.monotonic() + 120
                while _model_rated_decided(tmp_path / "screen.db") < decided:
                    assert time.monotonic() < give_up, "the model did not rate them all"
                    time.sleep(1)
                page = client.get(path)
                token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
                assert token, page.text[:500]
                while True:
                    asked = client.post(
                        "/lead/agreement/recompute",
                        data={"prompt": "rag-support-assistant", "_csrf_token": token.group(1)},
                    )
                    assert asked.status_code == 200, asked.text[:500]
                    page = client.get(path)
                    if f"{decided} human-decided answers rated by the model" in page.text:
                        break
                    assert time.monotonic() < give_up, page.text[-3000:]
                    time.sleep(1)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
            if process.stdout:
                process.stdout.close()

    # The model's calibration attempt came first, then the answers, through the server.
    assert "Model rater: peer" in page.text
    assert "Calibration passed (best share 100%)" in page.text
    # Fewer decided answers than the rule's 50: refused, and it says why.
    assert 'data-model-validity="refused"' in page.text
    assert f"{decided} human-decided answers rated by the model; at least 50" in page.text
    assert len(peer.requests) > decided
    # No candidate's identity reached the model server.
    with sqlite3.connect(tmp_path / "screen.db") as database:
        names = [n for (n,) in database.execute("SELECT candidate_name FROM invitations")]
    sent = b"".join(peer.raw).decode()
    assert not [n for n in names if n in sent]


@pytest.mark.slow  # a demo of its own: about 15 s on 2 cores
def test_a_model_server_that_does_not_answer_is_said_in_the_banner(tmp_path: Path) -> None:
    port, closed = free_port(), free_port()  # nothing listens on `closed`
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "screen", "demo", "--port", str(port)],
        cwd=tmp_path,
        env={
            **_clean_env(),
            "SCREEN_MODEL_URL": f"http://127.0.0.1:{closed}/v1",
            "SCREEN_MODEL_NAME": "peer",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        banner = ""
        assert process.stdout is not None
        while "Ctrl+C" not in banner and (line := process.stdout.readline()):
            banner += line
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        if process.stdout:
            process.stdout.close()
    lines = banner.splitlines()
    model = next(i for i, line in enumerate(lines) if "Model rater:" in line)
    assert lines[model + 1] == (
        "    ! The model server does not answer: it is unreachable (ConnectError). Start it or "
        "fix SCREEN_MODEL_URL; until then each rating fails and the outbox retries it."
    ), banner
    assert "Ctrl+C stops the server" in banner  # the demo still started
    assert time.monotonic() - started < 120


async def test_the_banners_probe_is_short_and_says_why(tmp_path: Path) -> None:
    from screen.review.model_client import not_answering
    from screen.settings import Settings

    def at(url: str) -> Settings:
        return Settings(database_url="sqlite+aiosqlite://", model_url=url, model_name="peer")

    # A server that takes the connection and never answers: the probe gives up quickly.
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    silent = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    started = time.monotonic()
    async with silent:
        why = await not_answering(at(f"http://127.0.0.1:{port}/v1"), seconds=0.3)
        for writer in held:
            writer.close()
            await writer.wait_closed()
    assert why == "it did not answer within 0.3 s"
    assert time.monotonic() - started < 5
    async with ChatPeer() as peer:
        assert await not_answering(at(peer.url)) is None
        assert peer.requests == []  # the probe asks for no completion
