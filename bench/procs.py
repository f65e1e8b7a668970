"""Processes the harness starts: app servers, baseline servers, workers, load generators.

Every child runs in a session of its own (so a Ctrl-C in the terminal reaches only the
harness, which then stops its children in order) and is registered here until it is
stopped; `stop_all` runs from `finally` blocks, from `atexit` and on SIGTERM, so no
server outlives the harness. Output goes to a log file per process, whose tail is shown
when a process fails to start.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The options `screen serve` passes to uvicorn for one process (screen.cli._serve), so a
# baseline app is served exactly as the real one is. Keep the two in step.
SERVER_OPTIONS: dict[str, object] = {
    "log_level": "info",
    "proxy_headers": True,
    "access_log": False,
    "timeout_graceful_shutdown": 20,
    "log_config": None,
}


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it if the harness dies without cleaning up
    (SIGKILL, a crash), so no server outlives it (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)
    except OSError:
        pass


class ProcessFailedError(RuntimeError):
    """A child exited or never became ready; the message carries its log's tail."""


class Proc:
    """One child process and its log."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._log_file = log.open("wb")
        self.popen = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=log.parent,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        _LIVE.append(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def fail(self, why: str) -> ProcessFailedError:
        return ProcessFailedError(
            f"{self.name}: {why}\n--- last lines of {self.log} ---\n{self.tail()}"
        )

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far (Linux /proc)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def memory_kib(self, field: str) -> int:
        """A /proc/<pid>/status field in KiB: VmRSS (now) or VmHWM (peak)."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def reset_peak_memory(self) -> bool:
        """Reset the peak resident set (VmHWM) to the current one (Linux clear_refs 5)."""
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM to the child's process group, SIGKILL if it has not gone after `timeout`."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        self._log_file.close()
        if self in _LIVE:
            _LIVE.remove(self)


_LIVE: list[Proc] = []


def stop_all() -> None:
    """Stop every child still running, newest first."""
    for proc in reversed(list(_LIVE)):
        with contextlib.suppress(Exception):
            proc.stop(timeout=10)


def _on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def install_cleanup() -> None:
    """Children are stopped however the harness ends: normally, by exception, Ctrl-C or SIGTERM."""
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, _on_sigterm)
    # A shell starting the harness in the background hands it SIGINT ignored; Ctrl-C (or
    # kill -INT) must still stop it, through the same `finally` blocks.
    signal.signal(signal.SIGINT, signal.default_int_handler)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def python_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The harness's environment without any SCREEN_ setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCREEN_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def wait_ready(proc: Proc, url: str, timeout: float = 60) -> None:
    """Poll `url` until it answers 200; fail early if the process dies."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            if not proc.alive():
                raise proc.fail(f"exited with code {proc.popen.returncode} before it was ready")
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise proc.fail(f"not ready at {url} after {timeout:.0f} s")


class Server:
    """An HTTP server child on a loopback port."""

    def __init__(self, proc: Proc, port: int) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.proc.stop()


def start_app(env: Mapping[str, str], logdir: Path, name: str = "screen-serve") -> Server:
    """The real application: `python -m screen serve`, one process."""
    port = free_port()
    argv = [sys.executable, "-m", "screen", "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = Proc(name, argv, python_env(env), logdir / f"{name}-{port}.log")
    server = Server(proc, port)
    try:
        wait_ready(proc, f"{server.url}/healthz")
    except BaseException:
        proc.stop()
        raise
    return server


def start_baseline(
    dsn: str | None, logdir: Path, name: str = "baseline", pool_size: int | None = None
) -> Server:
    """The minimal Litestar baseline app (bench.baseline_app), served like the real one;
    `pool_size` caps its asyncpg pool as SCREEN_DATABASE_POOL_SIZE caps the app's."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.baseline_app", "--port", str(port)]
    env = python_env({"BENCH_BASELINE_DSN": dsn} if dsn else {})
    if pool_size:
        env["BENCH_BASELINE_POOL_SIZE"] = str(pool_size)
    proc = Proc(name, argv, env, logdir / f"{name}-{port}.log")
    server = Server(proc, port)
    try:
        wait_ready(proc, f"{server.url}/ok")
    except BaseException:
        proc.stop()
        raise
    return server
