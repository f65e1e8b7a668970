"""The model rater's client: one Chat Completions call per rating, checked, retried once.

Plain `httpx` rather than the `openai` package: a rating is one POST to
`<SCREEN_MODEL_URL>/chat/completions` with a JSON-schema `response_format`, which every
OpenAI-compatible server we target (vLLM, llama.cpp's server, Ollama, TGI, hosted
APIs) accepts; httpx is already a dependency (webhooks, the ATS callback), and the
`openai` package would add a dependency tree and its own retry policy on top of the
outbox's, for nothing we use.

The reply is checked by `reviewers.model_rating.parse_rating` (the schema, and whether
each evidence quote occurs in the answer). A reply off the schema, or one whose quotes
are not all from the answer, gets one retry that tells the model what was wrong. A
second reply off the schema is a failure (recorded as such, never repaired) unless the
first was on it; of two replies on the schema, the one with more real quotes is kept,
its other evidence marked unquoted (never shown as a quote). A server that cannot be
reached, times out or answers with an HTTP error raises `ModelUnavailable`, so the outbox
retries the rating with its backoff.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from reviewers.model_rating import (
    MalformedRating,
    Rating,
    build_messages,
    parse_rating,
    response_schema,
    retry_message,
    unquoted_problem,
)
from reviewers.rubric import Rubric
from screen.platform.errors import UnretryableError
from screen.platform.observability import MODEL_CALL_SECONDS, MODEL_CALLS, MODEL_TOKENS
from screen.settings import Settings

# A rating's reply is a few hundred tokens (five levels with quotes of at most 300
# characters); an answer written for the exposure probe is longer. The cap also counts
# against the server's context window beside the prompt.
RATING_MAX_TOKENS = 640
WRITING_MAX_TOKENS = 1024
# A client error the same request will meet again (a prompt longer than the server's
# context window, an unknown model): recorded failed at once, not retried for a day.
REFUSED_STATUSES = frozenset({400, 401, 403, 404, 413, 422})
# Enough of a refusal to see why on the outbox page.
ERROR_EXCERPT = 300
USER_AGENT = "Screen-ModelRater/1"


class ModelUnavailable(Exception):
    """No usable answer from the server this time (down, slow, HTTP error): retry later."""


class ModelRefused(ModelUnavailable, UnretryableError):
    """The server refused the request itself: sending it again cannot succeed."""


@dataclass
class CallOutcome:
    """What one rating took: the rating, or why there is none after the retry."""

    rating: Rating | None
    error: str | None
    calls: int = 0
    latency_seconds: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    def add_usage(self, usage: object) -> None:
        if not isinstance(usage, dict):
            return
        for field, kind in (("prompt_tokens", "prompt"), ("completion_tokens", "completion")):
            value = usage.get(field)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                setattr(self, field, (getattr(self, field) or 0) + value)
                MODEL_TOKENS.labels(kind).inc(value)


def rater_identity(settings: Settings) -> str:
    return f"model: {settings.model_name}"


def _strip_fence(text: str) -> str:
    """A reply wrapped in one Markdown code fence is the same reply; nothing else is
    repaired."""
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```"):
        stripped = stripped[3:-3]
        if stripped.startswith("json"):
            stripped = stripped[4:]
    return stripped.strip()


async def _post(
    client: httpx.AsyncClient,
    settings: Settings,
    messages: list[dict[str, str]],
    schema: dict[str, Any] | None,
    outcome: CallOutcome,
    temperature: float = 0,
    max_tokens: int = RATING_MAX_TOKENS,
) -> str:
    if settings.model_url is None:
        raise ModelUnavailable("no model server is configured (SCREEN_MODEL_URL)")
    headers = {"User-Agent": USER_AGENT}
    if settings.model_api_key:
        headers["Authorization"] = f"Bearer {settings.model_api_key}"
    body: dict[str, Any] = {
        "model": settings.model_name,
        "messages": messages,
        "temperature": temperature,
        "max_tokens": max_tokens,
    }
    if schema is not None:
        body["response_format"] = (
            {"type": "json_object", "schema": schema}
            if settings.model_response_format == "json_object"
            else {
                "type": "json_schema",
                "json_schema": {"name": "rating", "strict": True, "schema": schema},
            }
        )
    started = time.perf_counter()
    outcome.calls += 1
    try:
        response = await client.post(
            settings.model_url + "/chat/completions", json=body, headers=headers
        )
    except httpx.TimeoutException:
        MODEL_CALLS.labels("timeout").inc()
        raise ModelUnavailable(
            f"the model server did not answer within {settings.model_timeout_seconds:g} s"
        ) from None
    except httpx.TransportError as exc:
        MODEL_CALLS.labels("unreachable").inc()
        raise ModelUnavailable(f"the model server is unreachable ({type(exc).__name__})") from None
    finally:
        elapsed = time.perf_counter() - started
        outcome.latency_seconds += elapsed
        MODEL_CALL_SECONDS.observe(elapsed)
    if response.status_code != 200:
        MODEL_CALLS.labels("http_error").inc()
        refused = response.status_code in REFUSED_STATUSES
        raise (ModelRefused if refused else ModelUnavailable)(
            f"the model server answered HTTP {response.status_code}: "
            + response.text[:ERROR_EXCERPT]
        )
    try:
        data = response.json()
        outcome.add_usage(data.get("usage"))
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        MODEL_CALLS.labels("http_error").inc()
        raise ModelUnavailable("the server's reply is not a Chat Completions response") from None
    return content if isinstance(content, str) else ""


async def rate(
    settings: Settings, rubric: Rubric, title: str, body: str, masked_answer: str
) -> CallOutcome:
    """Rate one (already masked) answer; `ModelUnavailable` when the server fails."""
    messages = build_messages(title, body, rubric, masked_answer)
    schema = response_schema(rubric)
    outcome = CallOutcome(rating=None, error=None)
    timeout = httpx.Timeout(settings.model_timeout_seconds)
    best: Rating | None = None
    async with httpx.AsyncClient(timeout=timeout) as client:
        for try_number in (1, 2):
            reply = await _post(client, settings, messages, schema, outcome)
            try:
                rating = parse_rating(_strip_fence(reply), rubric, masked_answer)
            except MalformedRating as exc:
                MODEL_CALLS.labels("malformed").inc()
                problem = str(exc)
                outcome.error = f"malformed reply ({try_number} of 2): {problem}"
            else:
                if best is None or len(rating.unquoted()) < len(best.unquoted()):
                    best = rating
                if not rating.unquoted():
                    break
                MODEL_CALLS.labels("unquoted").inc()
                problem = unquoted_problem(rating.unquoted())
            if try_number == 2:
                break
            messages = [
                *messages,
                {"role": "assistant", "content": reply[:4000]},
                retry_message(problem),
            ]
    if best is not None:
        MODEL_CALLS.labels("ok").inc()
        outcome.rating, outcome.error = best, None
    return outcome


# `screen demo` asks the server once before printing its banner: long enough for a server
# on this machine or the local network, short enough not to hold the demo's start.
PROBE_SECONDS = 3.0


async def not_answering(settings: Settings, seconds: float = PROBE_SECONDS) -> str | None:
    """Why the configured model server does not answer one quick request, or None when it
    does. `GET <url>/models` (every OpenAI-compatible server lists its models there) costs
    the server nothing, unlike a completion a CPU server would take seconds over; any HTTP
    answer but a refused key counts, since a server without that route still answers."""
    if settings.model_url is None:
        return "no model server is configured (SCREEN_MODEL_URL)"
    headers = {"User-Agent": USER_AGENT}
    if settings.model_api_key:
        headers["Authorization"] = f"Bearer {settings.model_api_key}"
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(seconds)) as client:
            response = await client.get(settings.model_url + "/models", headers=headers)
    except httpx.TimeoutException:
        return f"it did not answer within {seconds:g} s"
    except httpx.TransportError as exc:
        return f"it is unreachable ({type(exc).__name__})"
    if response.status_code in (401, 403):
        return f"it refused the request (HTTP {response.status_code}): check SCREEN_MODEL_API_KEY"
    return None


# The exposure probe asks for several answers to one prompt: at temperature 0 they would be
# one answer N times.
WRITE_TEMPERATURE = 0.9


async def write(settings: Settings, messages: list[dict[str, str]]) -> tuple[str, CallOutcome]:
    """One free-text reply (the exposure probe's answer as a candidate would write it), in
    one call; `ModelUnavailable` when the server fails."""
    outcome = CallOutcome(rating=None, error=None)
    timeout = httpx.Timeout(settings.model_timeout_seconds)
    async with httpx.AsyncClient(timeout=timeout) as client:
        reply = await _post(
            client, settings, messages, None, outcome, WRITE_TEMPERATURE, WRITING_MAX_TOKENS
        )
    MODEL_CALLS.labels("ok").inc()
    return reply, outcome
