"""Odd paths under /static/ are "not found", never a 500 (found by fault testing: a NUL
in the path, or a name longer than the file system allows, raised out of the file lookup)."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]


@pytest.mark.parametrize(
    "path",
    [
        "/static/%00",
        "/static/screen.css%00",
        "/static/%00/screen.css",
        "/static/" + "a" * 256,
        "/static/" + "a" * 300 + ".css",
        "/static/" + "/".join(["b" * 200] * 30),
    ],
)
async def test_odd_static_paths_are_not_found(client: Client, path: str) -> None:
    response = await client.get(path)

    assert response.status_code == 404, response.text[:300]


async def test_a_static_file_is_served(client: Client) -> None:
    response = await client.get("/static/screen.css")

    assert response.status_code == 200
    assert "text/css" in response.headers["content-type"]


@pytest.mark.parametrize(
    "name", ["countdown.js", "autosave.js", "attempt.js", "attempt_tabs.js", "follow_up.js"]
)
async def test_the_candidate_scripts_are_served_as_javascript(client: Client, name: str) -> None:
    # The attempt and follow-up pages load countdown.js and autosave.js before their own.
    response = await client.get(f"/static/{name}")

    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
