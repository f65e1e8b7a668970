"""The outbox page says plainly what it holds: every kind of event the product queues
(model ratings and figure computations among them) and what dead means."""

from __future__ import annotations

import html
import re

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.outbox import SLOW_JOB_SECONDS
from screen.registry import REGISTRY
from tests.support.factories import make_user
from tests.support.staff import sign_in

Client = AsyncTestClient[Litestar]


async def test_the_outbox_intro_names_every_kind_and_says_what_dead_means(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    admin = await make_user(db, clock.now(), "admin")
    await sign_in(client, admin.email)
    page = (await client.get("/admin/outbox")).text

    intro = page[page.index("data-outbox-kinds") : page.index('aria-label="Events by status"')]
    # Every kind a feature registers, so a new one cannot go unmentioned.
    assert set(re.findall(r"<code>([a-z_.]+)</code>", intro)) == set(REGISTRY.outbox_handlers)
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", intro)).split())
    assert "model ratings of answers and exposure probes of prompts" in text
    assert f"slow jobs, each allowed up to {SLOW_JOB_SECONDS // 60} minutes" in text
    assert "computations of the agreement and adverse-impact figures" in text
    assert (
        "After the last try the event is dead: it has given up, and nothing more happens to "
        "it (no email sent, no rating made, no figures computed) until you retry it here."
    ) in text
