"""The candidate's side of a screen's AI-use policy: acknowledging it at Start, and under
`ai_disclosed` describing at submit how AI tools were used.

The words live in `screen.recruiting.ai_policy`; these rules decide what a Start or a
submit must carry and refuse, with a message the candidate can act on, what does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.errors import ConflictError, InputError
from screen.platform.models import AiPolicy, Attempt, Screen
from screen.recruiting import ai_policy

# The page's countdown may reach zero a moment before the server's deadline; a submit
# that close to it is the clock ending the attempt, not a candidate skipping the form.
TIME_UP_TOLERANCE = timedelta(seconds=5)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def check_acknowledged(acknowledge: object, shown: object, screen: Screen) -> None:
    """A Start must tick the acknowledgement, for the policy the screen has now."""
    if acknowledge != "yes":
        raise InputError(
            "Please tick the box to confirm you have read the AI-use policy, then press Start "
            "again. The clock has not started.",
            field="acknowledge",
        )
    if shown != ai_policy.acknowledgement_key(screen.ai_policy):
        raise ConflictError(
            "The AI-use policy for this exercise changed after this page was opened. Read it "
            "again on the start page, then press Start. The clock has not started.",
            field="ai_policy",
        )


@dataclass(frozen=True)
class Disclosure:
    text: str
    conversation: str


class DisclosureMissingError(InputError):
    """Under `ai_disclosed`, a submit with no description while time remains."""


def disclosure_for_submit(
    attempt: Attempt, disclosure: str, conversation: str, now: datetime
) -> Disclosure | None:
    """What a submit stores of the candidate's AI use; None under other policies.

    The description is required while time remains. At the deadline (the page submits
    by itself, or the candidate presses Submit in its last seconds) the answer is taken
    without one, and staff pages say that time ran out.
    """
    if attempt.ai_policy != AiPolicy.AI_DISCLOSED:
        return None
    text = _normalise(disclosure).strip()
    pasted = _normalise(conversation).strip()
    ai_policy.check_disclosure(text, pasted)
    time_left = attempt.deadline is not None and now < attempt.deadline - TIME_UP_TOLERANCE
    if not text and time_left:
        raise DisclosureMissingError(
            "Before submitting, describe how you used AI tools: what you asked them and what "
            "you kept from their replies (or that you used none). Your answer has been saved.",
            field="ai_disclosure",
        )
    return Disclosure(text=text, conversation=pasted)


async def store_disclosure(db: AsyncSession, attempt_id: int, disclosure: Disclosure) -> None:
    """Kept with the submission it came with, in the same transaction."""
    await db.execute(
        update(Attempt)
        .where(Attempt.id == attempt_id)
        .values(
            ai_disclosure=disclosure.text or None,
            ai_conversation=disclosure.conversation or None,
        )
    )


def _normalise(value: str) -> str:
    # As answers are: browsers post CRLF, and NUL cannot be stored by every database.
    text = value.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return _LONE_SURROGATE.sub("\ufffd", text)
