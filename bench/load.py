"""Load generators: wrk (preferred) or a fixed-concurrency asyncio HTTP/1.1 client.

Both take the same `LoadSpec`: N keep-alive connections, each with its own path,
headers and starting revision, for a fixed duration, optionally paced (a pause after
each response). When a body template contains `{revision}`, each connection fills in
the revision its last response returned (`"revision": N`), so one connection drives one
candidate attempt exactly as one browser tab does; a stale revision would be a 409.
`{next}`, after `{revision}`, is that revision + 1: the number of the composition batch
a save carries when every save of the attempt carries one.
Responses whose status is not in `expect` are counted, and a run with any is invalid.

wrk runs one thread per connection (wrk's Lua state is per thread, and a figure and its
baseline are then driven alike), which costs it little next to a Python server. The
asyncio client runs as its own process (`python -m bench.load SPEC.json`), so it never
shares a GIL with the harness; on two cores it is itself a ceiling, which the harness
measures and prints.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REVISION = re.compile(rb'"revision":\s*(\d+)')
MARKER = "BENCH_JSON "


@dataclass
class Connection:
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    revision: int = 0


@dataclass
class LoadSpec:
    method: str
    connections: list[Connection]
    duration: float
    body: str | None = None  # may contain "{revision}", then "{next}"
    headers: dict[str, str] = field(default_factory=dict)
    delay_ms: float = 0.0
    expect: tuple[int, ...] = (200,)
    # wrk: one thread per connection even when connections are alike, so a figure and its
    # baseline are driven the same way.
    thread_per_connection: bool = True

    @property
    def tracks_revision(self) -> bool:
        return self.body is not None and "{revision}" in self.body


@dataclass
class LoadResult:
    generator: str
    connections: int
    requests: int
    seconds: float
    rps: float
    latency_ms: dict[str, float]
    errors: int  # transport errors and timeouts
    unexpected: int  # responses whose status was not expected
    statuses: dict[str, int]
    generator_cpu_s: float

    @property
    def failures(self) -> int:
        return self.errors + self.unexpected

    @property
    def p99_ms(self) -> float:
        """The 99th percentile of completed requests; a run in which none completed waited at
        least its whole length, so that (a lower bound) stands in for it."""
        if self.requests == 0:
            return self.seconds * 1000
        return self.latency_ms["p99"]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def available_generators() -> list[str]:
    return (["wrk"] if shutil.which("wrk") else []) + ["python"]


def run_load(generator: str, base_url: str, spec: LoadSpec) -> LoadResult:
    if generator == "wrk":
        return _run_wrk(base_url, spec)
    if generator == "python":
        return _run_python(base_url, spec)
    raise ValueError(f"unknown load generator {generator!r}")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- wrk -------------------------------------------------------------------------------


def _lua(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r") + '"'
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "{" + ", ".join(_lua(v) for v in value) + "}"
    raise TypeError(type(value))


_WRK_SCRIPT = """
local conns = %(conns)s
local method = %(method)s
local prefix = %(prefix)s
local suffix = %(suffix)s
local middle = %(middle)s
local rest = %(rest)s
local has_next = %(has_next)s
local has_body = %(has_body)s
local track = %(track)s
local pause = %(delay)s
local common = %(common)s
local expect = {}
for _, code in ipairs(%(expect)s) do expect[code] = true end
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  local c = conns[(counter - 1) %% #conns + 1]
  thread:set("my_path", c.path)
  thread:set("my_headers", c.headers)
  thread:set("rev", c.revision)
  thread:set("bad", 0)
  thread:set("codes", {})
  table.insert(threads, thread)
end

function init(args)
  for k, v in pairs(common) do my_headers[k] = v end
end

function request()
  local body = nil
  if has_body then
    if has_next then body = prefix .. rev .. middle .. (rev + 1) .. rest
    elseif track then body = prefix .. rev .. suffix else body = prefix end
  end
  return wrk.format(method, my_path, my_headers, body)
end

function response(status, headers, body)
  local key = tostring(status)
  codes[key] = (codes[key] or 0) + 1
  if not expect[status] then
    bad = bad + 1
  elseif track and body then
    local r = string.match(body, '"revision":%%s*(%%d+)')
    if r then rev = tonumber(r) end
  end
end

if pause > 0 then
  function delay() return pause end
end

function done(summary, latency, requests)
  local bad_total = 0
  local codes_total = {}
  for _, t in ipairs(threads) do
    bad_total = bad_total + t:get("bad")
    for k, v in pairs(t:get("codes")) do codes_total[k] = (codes_total[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(codes_total) do table.insert(parts, string.format('"%%s": %%d', k, v)) end
  local e = summary.errors
  io.write(string.format(
    '%(marker)s{"requests": %%d, "duration_us": %%d, "bad": %%d, "connect": %%d, "read": %%d, ' ..
    '"write": %%d, "timeout": %%d, "p50": %%d, "p90": %%d, "p99": %%d, "max": %%d, ' ..
    '"mean": %%f, "codes": {%%s}}\\n',
    summary.requests, summary.duration, bad_total, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, table.concat(parts, ", ")))
end
"""


def _wrk_script(spec: LoadSpec) -> str:
    prefix, _, suffix = (spec.body or "").partition("{revision}")
    middle, has_next, rest = suffix.partition("{next}")
    return _WRK_SCRIPT % {
        "conns": _lua([asdict(c) for c in spec.connections]),
        "method": _lua(spec.method),
        "prefix": _lua(prefix),
        "suffix": _lua(suffix),
        "middle": _lua(middle),
        "rest": _lua(rest),
        "has_next": _lua(bool(has_next)),
        "has_body": _lua(spec.body is not None),
        "track": _lua(spec.tracks_revision),
        "delay": _lua(float(spec.delay_ms)),
        "common": _lua(spec.headers),
        "expect": _lua(list(spec.expect)),
        "marker": MARKER,
    }


def _run_wrk(base_url: str, spec: LoadSpec) -> LoadResult:
    count = len(spec.connections)
    distinct = len({json.dumps(asdict(c), sort_keys=True) for c in spec.connections}) > 1
    # wrk's Lua state is per thread: per-connection state needs a thread per connection.
    per_connection = distinct or spec.tracks_revision or spec.thread_per_connection
    threads = count if per_connection else min(2, count)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_wrk_script(spec))
    seconds = max(1, math.ceil(spec.duration))
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{count}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        script.name,
        base_url,
    ]
    cpu_before = _children_cpu()
    try:
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    finally:
        Path(script.name).unlink(missing_ok=True)
    cpu = _children_cpu() - cpu_before
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith(MARKER)), None)
    if completed.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}")
    data = json.loads(line[len(MARKER) :])
    elapsed = data["duration_us"] / 1e6
    return LoadResult(
        generator=f"wrk ({threads} threads)",
        connections=count,
        requests=data["requests"],
        seconds=elapsed,
        rps=data["requests"] / elapsed if elapsed else 0.0,
        latency_ms={k: data[k] / 1000 for k in ("p50", "p90", "p99", "max", "mean")},
        errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
        unexpected=data["bad"],
        statuses={str(k): v for k, v in data["codes"].items()},
        generator_cpu_s=cpu,
    )


# --- the asyncio client ------------------------------------------------------------------


def _run_python(base_url: str, spec: LoadSpec) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump({"base_url": base_url, "spec": asdict(spec)}, file)
    cpu_before = _children_cpu()
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "bench.load", file.name],
            capture_output=True,
            text=True,
            timeout=spec.duration + 120,
        )
    finally:
        Path(file.name).unlink(missing_ok=True)
    cpu = _children_cpu() - cpu_before
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith(MARKER)), None)
    if completed.returncode != 0 or line is None:
        raise RuntimeError(f"load client failed ({completed.returncode}): {completed.stderr}")
    data = json.loads(line[len(MARKER) :])
    data["generator_cpu_s"] = cpu
    return LoadResult(**data)


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if b"content-length" in headers:
        body = await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    else:
        body = await reader.read()
    return status, body


async def _client(base_url: str, spec: LoadSpec) -> dict[str, Any]:
    target = urlsplit(base_url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    counts = {"errors": 0, "unexpected": 0}
    prefix, _, suffix = (spec.body or "").partition("{revision}")
    middle, has_next, rest = suffix.partition("{next}")
    started = time.perf_counter()
    deadline = started + spec.duration

    async def connection(conn: Connection) -> None:
        headers = {"Host": f"{host}:{port}", **spec.headers, **conn.headers}
        head_lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        revision = conn.revision
        reader = writer = None
        while time.perf_counter() < deadline:
            if writer is None:
                try:
                    reader, writer = await asyncio.open_connection(host, port)
                except OSError:
                    counts["errors"] += 1
                    await asyncio.sleep(0.05)
                    continue
            body = b""
            if spec.body is not None:
                if has_next:
                    text = prefix + str(revision) + middle + str(revision + 1) + rest
                else:
                    text = prefix + str(revision) + suffix if spec.tracks_revision else prefix
                body = text.encode()
            request = f"{spec.method} {conn.path} HTTP/1.1\r\n{head_lines}"
            if spec.body is not None:
                request += f"Content-Length: {len(body)}\r\n"
            sent = time.perf_counter()
            try:
                assert reader is not None
                writer.write(request.encode() + b"\r\n" + body)
                status, payload = await asyncio.wait_for(_read_response(reader), 10)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
                counts["errors"] += 1
                writer.close()
                reader = writer = None
                continue
            latencies.append((time.perf_counter() - sent) * 1000)
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if status not in spec.expect:
                counts["unexpected"] += 1
            elif spec.tracks_revision and (match := REVISION.search(payload)):
                revision = int(match.group(1))
            if spec.delay_ms:
                await asyncio.sleep(spec.delay_ms / 1000)
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection(c) for c in spec.connections))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "generator": "python asyncio client",
        "connections": len(spec.connections),
        "requests": len(latencies),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "latency_ms": {
            "p50": _percentile(ordered, 0.5),
            "p90": _percentile(ordered, 0.9),
            "p99": _percentile(ordered, 0.99),
            "max": ordered[-1] if ordered else 0.0,
            "mean": sum(ordered) / len(ordered) if ordered else 0.0,
        },
        "errors": counts["errors"],
        "unexpected": counts["unexpected"],
        "statuses": statuses,
    }


def main() -> None:
    data = json.loads(Path(sys.argv[1]).read_text())
    raw = data["spec"]
    spec = LoadSpec(
        method=raw["method"],
        connections=[Connection(**c) for c in raw["connections"]],
        duration=raw["duration"],
        body=raw["body"],
        headers=raw["headers"],
        delay_ms=raw["delay_ms"],
        expect=tuple(raw["expect"]),
        thread_per_connection=raw["thread_per_connection"],
    )
    result = asyncio.run(_client(data["base_url"], spec))
    print(MARKER + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
