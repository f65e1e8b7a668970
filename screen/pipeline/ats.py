"""The rules behind the ATS partner API: what status an ATS sees, which callback URLs
Screen will call, and the completion callback itself (an outbox handler).

When a decision is final, `screen.platform.signals` queues an `ats.completed` outbox
event; `notify_ats` sends a body-less PATCH to the callback URL the ATS gave, which is
the ATS's cue to call `test_status` again. The HTTP side (authentication, request
shapes, JSON errors) is `screen.pipeline.ats_api`.
"""

from __future__ import annotations

from datetime import datetime

from screen.pipeline.webhooks import TIMEOUT_SECONDS
from screen.platform import outbound, outbox
from screen.platform.jobs import JobContext
from screen.platform.models import AttemptState, Invitation, OutboxEvent, Screen
from screen.recruiting.invitations import link_state

# Greenhouse shows these as the test's status; "complete" is the one it acts on.
PARTNER_STATUS = {
    AttemptState.INVITED: "sent",
    AttemptState.OPENED: "sent",
    AttemptState.STARTED: "started",
    AttemptState.SUBMITTED: "submitted",
    AttemptState.AUTO_SUBMITTED: "submitted",
    AttemptState.IN_REVIEW: "submitted",
    AttemptState.NEEDS_ADJUDICATION: "submitted",
    AttemptState.PASSED: "complete",
    AttemptState.FAILED: "complete",
    AttemptState.EXPIRED: "expired",
    AttemptState.WITHDRAWN: "withdrawn",
}


DECIDED = (AttemptState.PASSED, AttemptState.FAILED)


def check_callback_url(url: str, *, allow_private: bool) -> str:
    """An absolute http(s) URL on a plainly written public host, or InputError (400) naming
    what is wrong. Whoever holds an API key chooses this URL and Screen later PATCHes it from
    inside its own network, so a URL naming this machine or a private network is refused
    here (unless SCREEN_ALLOW_PRIVATE_TARGETS) and, whatever the name resolves to, again at
    every connect (`screen.platform.outbound`)."""
    return outbound.check_target_url(
        url, allow_private=allow_private, field="url", what="The callback url"
    )


def partner_test_name(screen: Screen) -> str:
    return f"{screen.title} ({screen.prompt.title}, {screen.duration_minutes} min)"


def partner_status(invitation: Invitation, now: datetime) -> str:
    return PARTNER_STATUS[link_state(invitation, now)]


class CallbackFailedError(Exception):
    """The ATS did not answer the PATCH with a 2xx; raised so the outbox retries."""


async def notify_ats(ctx: JobContext, event: OutboxEvent, _done: outbox.DoneMarker) -> None:
    """PATCH the ATS's callback URL, with no body: it means "the result is ready, fetch it".

    Jobs run at least once, so the PATCH may be sent twice; that is harmless, the
    ATS just reads test_status again and gets the same answer.
    """
    url = str(event.payload["url"])
    # The address is checked when the connection is made, so a callback stored before the
    # input check existed, or a name that now resolves to a private address, is refused too.
    async with outbound.client(ctx.settings, timeout=TIMEOUT_SECONDS) as client:
        response = await client.patch(url)
    if not response.is_success:
        raise CallbackFailedError(
            f"the ATS answered HTTP {response.status_code} to the completion PATCH"
        )
