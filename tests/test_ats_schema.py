"""The ATS partner API answers as its OpenAPI document says (issue 15, finding 10).

Schemathesis reads the schema the app serves at /schema/openapi.json and calls every
operation in-process with generated valid and invalid requests, authenticated with a real
API key, checking each response against the document: no 5xx, only documented status codes,
content types, bodies and headers, and invalid input refused. Fixed seed (derandomized) and a
bounded number of examples, so CI runs the same requests every time in well under a minute.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from screen.accounts.api_keys import create_api_key
from screen.platform.clock import FrozenClock
from tests.support.factories import make_screen

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.python import asgi as schemathesis_asgi  # noqa: E402

pytestmark = pytest.mark.slow

# Examples per operation and generation mode: 4 operations x 2 modes x 150 calls (about
# 1,100 requests, some operations run out of distinct inputs first) take about 10 s here,
# with room under the 60 s budget for a slower CI runner.
EXAMPLES = 150
BUDGET_SECONDS = 60


def basic(key: str) -> dict[str, str]:
    """HTTP Basic with the API key as the username and an empty password."""
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


async def make_key(db: AsyncSession, clock: FrozenClock) -> str:
    _, raw = await create_api_key(db, "Greenhouse", None, clock.now())
    await db.commit()
    return raw


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> list[str]:
    failures: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,  # the fixed seed: the same requests on every run
        deadline=None,
        database=None,  # nothing carried over between runs either
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        try:
            case.call_and_validate(headers=headers)
        except (Exception, BaseExceptionGroup) as exc:  # a FailureGroup: report all at the end
            failures.append(f"{operation.label} [{mode.value}]: {exc}\n{case.as_curl_command()}")

    try:
        run()
    except Unsatisfiable:
        # list_tests takes no input, so there is nothing to make invalid.
        assert mode is GenerationMode.NEGATIVE, operation.label
    return failures


async def test_the_partner_api_matches_its_openapi_document(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    await make_screen(db, clock.now())
    await db.commit()
    headers = basic(await make_key(db, clock))
    started = time.monotonic()
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
    try:
        operations = [result.ok() for result in schema.get_all_operations()]
        assert {operation.label for operation in operations} == {
            "GET /api/ats/list_tests",
            "POST /api/ats/send_test",
            "GET /api/ats/test_status",
            "POST /api/ats/outcome",
        }
        failures = [
            failure
            for operation in operations
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            for failure in _fuzz(operation, mode, headers)
        ]
    finally:
        schemathesis_asgi.shutdown_lifespans()
    elapsed = time.monotonic() - started
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(failures[:20])
    assert elapsed < BUDGET_SECONDS, f"took {elapsed:.0f} s"


async def test_a_wrong_method_on_the_partner_api_says_which_are_allowed(
    client: AsyncTestClient[Litestar], db: AsyncSession, clock: FrozenClock
) -> None:
    headers = basic(await make_key(db, clock))
    cases = {
        ("DELETE", "/api/ats/list_tests"): {"GET"},
        ("GET", "/api/ats/send_test"): {"POST"},
        ("PUT", "/api/ats/test_status"): {"GET"},
        ("GET", "/api/ats/outcome"): {"POST"},
    }
    for (method, path), allowed in cases.items():
        response = await client.request(method, path, headers=headers)
        assert response.status_code == 405, (method, path)
        assert response.json()["error"], (method, path)
        listed = {part.strip() for part in response.headers["allow"].split(",")}
        assert allowed <= listed <= allowed | {"HEAD", "OPTIONS"}, (method, path, listed)
