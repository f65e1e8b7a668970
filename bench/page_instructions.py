"""Instructions a request of the candidate page costs the app, counted by callgrind.

Wall-clock req/s on a shared machine moves with everyone else's load; an instruction count
does not. This counts the instructions of the app's ASGI callable in one process, with no
server in front (uvicorn and h11 cost both sides of the candidate page's ratio the same):

* `page`: `GET /s/<token>/attempt` of started attempts (the `candidate_page` scenario's
  request), cycling over 64 of them;
* `healthz`: the app's own `GET /healthz`, the least any route of the app costs;
* `ok`: the baseline app's `GET /ok` (`bench.baseline_app`), the ratio's other side.

Each target runs in its own process under `valgrind --tool=callgrind`: the app is built
as `screen serve` builds it (production settings, Redis configured so no jobs run in
the web process) and started through its ASGI lifespan, warmed up, then the counters are
zeroed (`callgrind_control -z`), the requests are sent one after another, and the counters
are dumped. The cost of the two `callgrind_control` calls themselves is measured the same
way with no request between them and subtracted.

    python -m bench.page_instructions \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/screen_bench_cg

The database is dropped and re-created (its name must contain "bench"). Takes a few
minutes: Python under callgrind runs some fifty times slower.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bench.harness import (
    BASE_URL,
    DEFAULT_REDIS_URL,
    SECRET,
    Env,
    Sizes,
    invite_candidates,
    library_screen,
)
from bench.web import START_FORM

ASGIApp = Callable[[dict[str, Any], Any, Any], Coroutine[Any, Any, None]]
TARGETS = ("page", "healthz", "ok")
TOKENS = 64
PORT = 8000
_TOTALS = re.compile(r"^(?:totals|summary): (\d+)", re.MULTILINE)


def _app_env(database_url: str, redis_url: str) -> dict[str, str]:
    return {
        "SCREEN_DATABASE_URL": database_url,
        "SCREEN_REDIS_URL": redis_url,
        "SCREEN_SECRET_KEY": SECRET,
        "SCREEN_BASE_URL": BASE_URL,
        "SCREEN_MAIL_DIR": str(Path(tempfile.gettempdir()) / "screen-page-instructions-mail"),
    }


def _scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """The scope uvicorn's h11 protocol hands the app for a request from wrk."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", PORT),
        "client": ("127.0.0.1", 40000),
        "scheme": "http",
        "method": method,
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", f"127.0.0.1:{PORT}".encode()), *headers],
        "state": {},
    }


async def request(
    app: ASGIApp,
    method: str,
    path: str,
    body: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """One request through the ASGI callable: status, headers and body."""
    sent = False
    status = 0
    reply_headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # a client that stays connected
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, reply_headers
        if message["type"] == "http.response.start":
            status = message["status"]
            reply_headers = list(message.get("headers") or ())
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(_scope(method, path, headers or []), receive, send)
    return status, reply_headers, b"".join(chunks)


class Lifespan:
    """The app's ASGI lifespan, started and stopped as a server does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Lifespan:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self.task = asyncio.create_task(self.app(scope, self.inbox.get, self.outbox.put))
        await self.inbox.put({"type": "lifespan.startup"})
        reply = await self.outbox.get()
        if reply["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"the app did not start: {reply}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.outbox.get()
        assert self.task is not None
        await self.task


def _build(target: str, database_url: str, redis_url: str) -> ASGIApp:
    if target == "ok":
        from bench.baseline_app import create

        app: ASGIApp = create(None)  # type: ignore[assignment]
        return app
    os.environ.update(_app_env(database_url, redis_url))
    from screen.app import create_app
    from screen.settings import load_settings

    built: ASGIApp = create_app(load_settings())  # type: ignore[assignment]
    return built


def _callgrind(command: str, *args: str) -> None:
    subprocess.run(
        ["callgrind_control", command, *args, str(os.getpid())], check=True, capture_output=True
    )


async def _measure(args: argparse.Namespace, tokens: list[str]) -> None:
    """In the process under callgrind: warm up, then count `args.requests` requests."""
    app = _build(args.target, args.database_url, args.redis_url)
    if args.target == "page":
        paths = [f"/s/{token}/attempt" for token in tokens]
    else:
        paths = ["/ok" if args.target == "ok" else "/healthz"]
    async with Lifespan(app):
        for index in range(args.warmup):
            status, _, _ = await request(app, "GET", paths[index % len(paths)])
            if status != 200:
                raise RuntimeError(f"{paths[index % len(paths)]} answered {status}")
        _callgrind("-z")
        _callgrind("-d", "empty")
        _callgrind("-z")
        for index in range(args.requests):
            await request(app, "GET", paths[index % len(paths)])
        _callgrind("-d", "measured")


async def _seed(env: Env) -> list[str]:
    """A screen and started attempts, as the `candidate_page` scenario seeds them."""
    await env.recreate_database()
    screen_id, _, _ = await library_screen(env, "Bench wave")
    tokens = await invite_candidates(env, screen_id, TOKENS, "wave", accommodation=3.0)
    from urllib.parse import urlencode

    app = _build("page", env.database_url, env.redis_url)
    body = urlencode(START_FORM).encode()
    form = [(b"content-type", b"application/x-www-form-urlencoded")]
    async with Lifespan(app):
        for token in tokens:
            status, _, _ = await request(app, "POST", f"/s/{token}/start", body, form)
            if status != 303:
                raise RuntimeError(f"starting an attempt gave {status}")
    return tokens


def _count(out_file: Path, trigger: str) -> int:
    for dump in out_file.parent.glob(out_file.name + ".*"):
        text = dump.read_text(errors="replace")
        if f"desc: Trigger: Client Request: {trigger}" in text or f"dump {trigger}" in text:
            found = _TOTALS.search(text)
            if found:
                return int(found.group(1))
    raise RuntimeError(f"no callgrind dump named {trigger!r} in {out_file.parent}")


def _run_target(args: argparse.Namespace, target: str, tokens_file: Path, workdir: Path) -> int:
    out_file = workdir / f"callgrind.{target}"
    argv = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out_file}",
        sys.executable,
        "-m",
        "bench.page_instructions",
        "--child",
        target,
        "--tokens",
        str(tokens_file),
        "--requests",
        str(args.requests),
        "--warmup",
        str(args.warmup),
        "--database-url",
        args.database_url,
        "--redis-url",
        args.redis_url,
    ]
    log = workdir / f"valgrind.{target}.log"
    with log.open("w") as sink:
        done = subprocess.run(argv, stdout=sink, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{target} under callgrind failed; see {log}")
    measured, empty = _count(out_file, "measured"), _count(out_file, "empty")
    requests: int = args.requests
    return round((measured - empty) / requests)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--workdir", type=Path, default=None, help="keep the callgrind files")
    parser.add_argument("--child", choices=TARGETS, help=argparse.SUPPRESS)
    parser.add_argument("--tokens", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.target = args.child
        asyncio.run(_measure(args, Path(args.tokens).read_text().split()))
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="page-instructions-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env = Env(
        database_url=args.database_url,
        redis_url=args.redis_url,
        runs=1,
        quick=True,
        generator="none",
        workdir=workdir,
        sizes=Sizes.quick(),
    )
    env.check_targets()
    tokens_file = workdir / "tokens"
    tokens_file.write_text("\n".join(asyncio.run(_seed(env))))
    try:
        for target in args.targets.split(","):
            per_request = _run_target(args, target, tokens_file, workdir)
            print(f"{target:8} {per_request:>10,} instructions a request", flush=True)
    finally:
        asyncio.run(env.drop_database())
    print(f"(callgrind files in {workdir})")


if __name__ == "__main__":
    main()
