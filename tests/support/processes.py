"""A process a test talks to over HTTP (the app, the OpenID provider): started with its
output in a log file, waited for until an address answers 200, stopped politely and then
firmly; a process that never answers fails the test with the end of its log."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import httpx

POLL_SECONDS = 0.1


class LoggedProcess:
    def __init__(self, name: str, log_path: Path, *, stop_within: float) -> None:
        self.name = name  # "the server": what a failure says did not start
        self.log_path = log_path
        self.stop_within = stop_within
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(
        self,
        args: list[str],
        *,
        ready_url: str,
        within: float,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Run `args` and return once `ready_url` answers 200."""
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        give_up = time.monotonic() + within
        while time.monotonic() < give_up and self.process.poll() is None:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    return
            time.sleep(POLL_SECONDS)
        self.stop()
        raise AssertionError(f"{self.name} did not start:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=self.stop_within)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
