"""The fixture of the candidate-facing scenarios: a wave of started attempts, two servers.

Seeded through the app's own functions: the shipped prompt library, a 45-minute screen,
candidates invited with `invite` (×3 time accommodation, so no deadline passes during a
long run), staff accounts with real argon2 passwords from `create_user`; then each
attempt is started over HTTP (`POST /s/<token>/start`), as a candidate would. Served by
`screen serve` (one process) and, beside it, the baseline app (`bench.baseline_app`)
on the same database.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from bench import procs
from bench.harness import Env, connect, invite_candidates, library_screen, run_async
from bench.load import Connection, LoadResult, LoadSpec
from screen.recruiting.ai_policy import POLICY_VERSION

# The bench's screens keep the default policy.
START_FORM = {"acknowledge": "yes", "ai_policy": f"no_ai:{POLICY_VERSION}"}

# Sign-in isolation drives a steady, unsaturated autosave load on attempts of its own.
PACED_CONNECTIONS = 16
STAFF = 8
STAFF_PASSWORD = "bench-password-0123"
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
_PARAGRAPH = (
    "Retrieval first: a hybrid BM25 and dense index over the help centre, re-ranked by a "
    "cross-encoder, because latency matters more than the last point of recall here; "
    "the cost per answer stays under a cent at the expected volume.\n"
)
DRAFT = (_PARAGRAPH * 12)[:2000]


def autosave_body() -> str:
    """The JSON the page's script posts: the last saved revision and the whole draft."""
    return '{"revision": {revision}, "answer": ' + json.dumps(DRAFT) + "}"


def typing_batch(seconds: float = 30, chars_per_minute: int = 300) -> list[list[object]]:
    """The composition events of `seconds` of steady typing at the end of the draft, as
    the page records them: one `[t, pos, 0, char]` per keystroke, with a typo corrected
    (`[t, pos, 1, ""]`) every 25 characters. Times are late in a 40-minute attempt, so
    every number has its full width."""
    events: list[list[object]] = []
    t, pos = 35 * 60_000, len(DRAFT) - 200
    step = 60_000 // chars_per_minute
    typed = (_PARAGRAPH * 8)[: int(seconds * chars_per_minute / 60)]
    for index, char in enumerate(typed):
        if index % 25 == 24:
            events.append([t, pos, 0, "q"])
            events.append([t + step // 2, pos, 1, ""])
        events.append([t, pos, 0, char])
        t += step
        pos += 1
    return events


def recorded_autosave_body() -> str:
    """The autosave body with a composition batch of ~30 s of typing, numbered by the load
    generator (`{next}`: these attempts' every save carries a batch)."""
    # The events travel as the JSON text of their list, as the page sends them.
    events = json.dumps(json.dumps(typing_batch(), separators=(",", ":")))
    return (
        '{"revision": {revision}, "answer": '
        + json.dumps(DRAFT)
        + ', "composition": {"seq": {next}, "events": '
        + events
        + "}}"
    )


@dataclass
class WebFixture:
    env: Env
    app: procs.Server
    baseline: procs.Server
    wave: list[str]  # link tokens of started attempts, one per load connection
    paced: list[str]  # attempts of the sign-in isolation load
    staff: list[str]  # emails of staff accounts whose password is STAFF_PASSWORD
    recorded: list[str]  # attempts whose every save carries a composition batch

    def close(self) -> None:
        self.app.stop()
        self.baseline.stop()

    def revisions(self, tokens: list[str]) -> list[int]:
        """Each attempt's saved revision now, in token order."""
        return revisions(self.env, tokens)

    def autosave_spec(self, tokens: list[str], duration: float, delay_ms: float = 0) -> LoadSpec:
        return autosave_spec(self.env, tokens, duration, delay_ms)

    def recorded_autosave_spec(self, duration: float) -> LoadSpec:
        connections = [
            Connection(f"/s/{token}/draft", revision=revision)
            for token, revision in zip(self.recorded, self.revisions(self.recorded), strict=True)
        ]
        return LoadSpec("POST", connections, duration, recorded_autosave_body(), dict(JSON_HEADERS))

    def upsert_spec(self, count: int, duration: float) -> LoadSpec:
        connections = [Connection(f"/upsert/{index + 1}") for index in range(count)]
        return LoadSpec("POST", connections, duration, autosave_body(), dict(JSON_HEADERS))


def revisions(env: Env, tokens: list[str]) -> list[int]:
    """Each attempt's saved revision now, in token order."""
    from screen.platform.tokens import hash_token

    async def read() -> list[int]:
        conn = await connect(env)
        try:
            rows = await conn.fetch(
                "SELECT i.token_hash, a.revision FROM attempts a "
                "JOIN invitations i ON i.id = a.invitation_id WHERE i.token_hash = ANY($1)",
                [hash_token(t) for t in tokens],
            )
        finally:
            await conn.close()
        by_hash = {r["token_hash"]: r["revision"] for r in rows}
        return [by_hash[hash_token(t)] for t in tokens]

    return run_async(read())


def autosave_spec(env: Env, tokens: list[str], duration: float, delay_ms: float = 0) -> LoadSpec:
    """Autosave on each started attempt, one connection each, from its current revision."""
    connections = [
        Connection(f"/s/{token}/draft", revision=revision)
        for token, revision in zip(tokens, revisions(env, tokens), strict=True)
    ]
    return LoadSpec("POST", connections, duration, autosave_body(), dict(JSON_HEADERS), delay_ms)


def start_attempts(server: procs.Server, tokens: list[str]) -> None:
    """Start each attempt over HTTP, as a candidate does."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for token in tokens:
            # As a candidate does: ticking the box that acknowledges the AI-use policy.
            response = client.post(f"/s/{token}/start", data=START_FORM)
            if response.status_code != 303:
                raise RuntimeError(f"starting an attempt gave {response.status_code}")


def web_fixture(env: Env) -> WebFixture:
    return env.fixture("web", _build)


async def _seed(env: Env) -> tuple[list[str], list[str], list[str], list[str]]:
    from bench.baseline_app import CREATE_TABLE
    from screen.accounts.users import create_user
    from screen.platform.db import create_engine, create_sessionmaker

    screen_id, _, _ = await library_screen(env, "Bench wave")
    wave = await invite_candidates(env, screen_id, env.sizes.connections, "wave", accommodation=3.0)
    paced = await invite_candidates(env, screen_id, PACED_CONNECTIONS, "paced", accommodation=3.0)
    recorded = await invite_candidates(
        env, screen_id, env.sizes.connections, "recorded", accommodation=3.0
    )
    engine = create_engine(env.database_url)
    staff = []
    try:
        async with create_sessionmaker(engine)() as db, db.begin():
            for index in range(STAFF):
                user = await create_user(
                    db,
                    email=f"staff{index}@bench.example.com",
                    name=f"Staff {index}",
                    roles="reviewer",
                    password=STAFF_PASSWORD,
                    now=datetime.now(UTC),
                    actor="bench",
                )
                staff.append(user.email)
    finally:
        await engine.dispose()
    conn = await connect(env)
    try:
        await conn.execute(CREATE_TABLE)
    finally:
        await conn.close()
    return wave, paced, staff, recorded


def _build(env: Env) -> WebFixture:
    started = time.monotonic()
    wave, paced, staff, recorded = run_async(_seed(env))
    env.log(
        f"  seeded a screen, {len(wave) + len(paced) + len(recorded)} invitations and "
        f"{len(staff)} staff accounts in {time.monotonic() - started:.1f} s"
    )
    # The record's cap at its largest, so no attempt reaches it however long the runs.
    app = procs.start_app(
        env.app_env(SCREEN_COMPOSITION_MAX_BYTES=str(64 * 1024 * 1024)), env.workdir
    )
    try:
        baseline = procs.start_baseline(env.dsn, env.workdir)
    except BaseException:
        app.stop()
        raise
    fixture = WebFixture(env, app, baseline, wave, paced, staff, recorded)
    try:
        start_attempts(app, wave + paced + recorded)
    except BaseException:
        fixture.close()
        raise
    return fixture


def run_details(result: LoadResult, server_cpu: float) -> dict[str, object]:
    """What the JSON keeps of one load run."""
    return {**result.to_json(), "server_cpu_share": round(server_cpu, 3)}
