"""An SMTP server on loopback that counts what it accepts, in a process of its own.

aiosmtpd, accepting every message; prints `READY` once listening, then, when `--expect`
messages have arrived (or `--timeout` passes), one JSON line with the count and the
arrival times of the first and last message, and exits. With `--capture FILE` it also
writes each message (envelope and bytes) as a JSON line, so a baseline can send exactly
the same messages again.

    python -m bench.smtp_sink --port 8825 --expect 5000 [--capture mail.jsonl]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, expect: int, capture: bool) -> None:
        self.expect = expect
        self.capture = capture
        self.times: list[float] = []
        self.messages: list[dict[str, Any]] = []
        self.done = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.times.append(time.monotonic())
        if self.capture:
            self.messages.append(
                {
                    "from": envelope.mail_from,
                    "to": list(envelope.rcpt_tos),
                    "data": bytes(envelope.content).decode("latin-1"),
                }
            )
        if len(self.times) >= self.expect:
            self.done.set()
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--capture", type=Path, default=None)
    args = parser.parse_args()
    sink = Sink(args.expect, args.capture is not None)
    controller = Controller(sink, hostname="127.0.0.1", port=args.port)
    controller.start()
    ready = time.monotonic()
    print("READY", flush=True)
    try:
        sink.done.wait(args.timeout)
    finally:
        controller.stop()
    if args.capture:
        with args.capture.open("w") as file:
            for message in sink.messages:
                file.write(json.dumps(message) + "\n")
    times = sink.times
    print(
        json.dumps(
            {
                "count": len(times),
                "first_s": times[0] - ready if times else None,
                "last_s": times[-1] - ready if times else None,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
