"""Signing staff in through the real sign-in form, CSRF token included."""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from screen.platform.jobs import InProcessRunner
from tests.support.factories import PASSWORD

Client = AsyncTestClient[Litestar]
_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


async def csrf_token(client: Client, page: str = "/signin") -> str:
    response = await client.get(page)
    match = _CSRF.search(response.text)
    assert match, f"no CSRF token on {page}"
    return match.group(1)


async def sign_in(client: Client, email: str, password: str = PASSWORD) -> Any:
    token = await csrf_token(client)
    return await client.post(
        "/signin",
        data={"email": email, "password": password, "_csrf_token": token},
        follow_redirects=False,
    )


async def post_form(
    client: Client, path: str, data: dict[str, str] | None = None, **kw: Any
) -> Any:
    """POST a form the way the browser does: with the CSRF token from the cookie's pair."""
    token = client.cookies.get("screen_csrf")
    assert token, "no CSRF cookie yet: load a page first"
    return await client.post(path, data={**(data or {}), "_csrf_token": token}, **kw)


async def agreement_page(client: Client, runner: InProcessRunner, path: str) -> Any:
    """The agreement page once its figures are computed, the way a lead gets them: the
    first view asks for a computation, the job runs it, the next view shows it."""
    first = await client.get(path)
    assert first.status_code == 200, first.text[:300]
    await runner.tick()
    await runner.drain()
    return await client.get(path)


async def fairness_page(client: Client, runner: InProcessRunner, path: str) -> Any:
    """The adverse-impact page once its figures are computed: as the agreement page, the
    first view asks for them, the job computes them, the next view shows them."""
    return await agreement_page(client, runner, path)
