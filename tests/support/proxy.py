"""A loopback TCP proxy a test can cut and restore, standing in for a database outage."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from tests.support.smtp import free_port


class TcpProxy:
    """Forwards `port` to the target while started; refuses connections while stopped.

    It runs its own event loop in a thread: the test client serves the app from
    another loop, and the test's own loop is busy waiting for the client.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def start(self) -> None:
        async def start() -> None:
            self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

        self._call(start())

    def stop(self) -> None:
        async def stop() -> None:
            if self.server:
                self.server.close()
                self.server = None
            for writer in self.writers:
                writer.close()
            self.writers.clear()

        self._call(stop())

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()  # its self-pipe sockets would otherwise be left for the GC

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, upstream_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
