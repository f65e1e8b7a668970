"""The AI-use policy of a screen, in the words candidates and staff read.

A recruiter picks one of three policies per screen; the candidate reads it on the
invitation email, the landing page and the attempt page, and acknowledges it by
pressing Start, when the attempt copies the policy and `POLICY_VERSION` (the version of
the wording below). Change the wording of any policy → bump `POLICY_VERSION`, so an
attempt's record says which words its candidate agreed to.

The wording is deliberately concrete: what is allowed (own notes and documentation,
under every policy), what is not, and under `ai_disclosed` exactly what must be
described at submit. Nothing here judges an answer; the policy and the disclosure
are context for reviewers, never a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from screen.platform.errors import InputError, TooLargeError
from screen.platform.models import AiPolicy

POLICY_VERSION = 1

# Under `ai_disclosed`: the description is a few paragraphs; the conversation may be a
# long pasted chat log, but not a dump of everything.
MAX_DISCLOSURE_CHARS = 20_000
MAX_CONVERSATION_BYTES = 200 * 1024


@dataclass(frozen=True)
class Wording:
    label: str  # staff pages and the recruiter's choice: a few words
    email: str  # one sentence in the invitation email
    statement: str  # the landing and attempt pages: the full rule, in plain words
    details: tuple[str, ...]  # what that means in practice, one point a line


_TOOLS = "for example ChatGPT, Claude, Gemini or Copilot"

WORDING: dict[AiPolicy, Wording] = {
    AiPolicy.NO_AI: Wording(
        label="No AI assistants",
        email=(
            "AI assistants are not allowed for this exercise; your own notes and "
            "documentation are fine."
        ),
        statement="Write this answer yourself, without AI tools.",
        details=(
            f"Do not use AI assistants or chatbots ({_TOOLS}), and do not ask another "
            "person for help.",
            "You may use your own notes and look things up in documentation.",
        ),
    ),
    AiPolicy.AI_DISCLOSED: Wording(
        label="AI allowed, with disclosure",
        email=(
            "You may use AI assistants for this exercise; when you submit, you will be "
            "asked to describe how you used them."
        ),
        statement="AI assistants are allowed, and you describe how you used them when you submit.",
        details=(
            f"You may use AI assistants ({_TOOLS}), as well as your own notes and documentation.",
            "When you submit, you must describe how you used them: what you asked and "
            "what you kept from the replies. If you used none, say so.",
            "You may also paste the conversation. Reviewers read your description beside "
            "your answer.",
        ),
    ),
    AiPolicy.AI_ALLOWED: Wording(
        label="AI allowed",
        email="You may use AI assistants for this exercise; no disclosure is asked.",
        statement="AI assistants are allowed; you are not asked to describe how you used them.",
        details=(
            f"You may use AI assistants ({_TOOLS}), as well as your own notes and documentation.",
            "The reasoning in the answer should be one you can explain and defend in a "
            "later conversation.",
        ),
    ),
}

CHOICES: tuple[AiPolicy, ...] = (AiPolicy.NO_AI, AiPolicy.AI_DISCLOSED, AiPolicy.AI_ALLOWED)


def parse(raw: object) -> AiPolicy:
    """A policy from a form or the CLI; anything else is refused with the field named."""
    value = str(raw or "").strip()
    try:
        return AiPolicy(value)
    except ValueError:
        allowed = ", ".join(p.value for p in CHOICES)
        raise InputError(
            f"AI-use policy must be one of {allowed} (got {value[:40]!r}).", field="ai_policy"
        ) from None


def wording(policy: str | None) -> Wording:
    """The wording of a stored policy; a screen predating policies reads as `no_ai`."""
    try:
        return WORDING[AiPolicy(policy or AiPolicy.NO_AI)]
    except ValueError:
        return WORDING[AiPolicy.NO_AI]


def acknowledgement_key(policy: str) -> str:
    """What the Start form carries of the policy it showed, so a Start against a policy
    changed since the page was opened is refused rather than recorded as acknowledged."""
    return f"{policy}:{POLICY_VERSION}"


def check_disclosure(disclosure: str, conversation: str) -> None:
    """Size limits on what a candidate writes about their AI use."""
    if len(disclosure) > MAX_DISCLOSURE_CHARS:
        raise TooLargeError(
            f"The description of how you used AI is {len(disclosure):,} characters; the "
            f"limit is {MAX_DISCLOSURE_CHARS:,}. Shorten it — nothing was saved or submitted."
        )
    size = len(conversation.encode("utf-8"))
    if size > MAX_CONVERSATION_BYTES:
        raise TooLargeError(
            f"The pasted conversation is {size:,} bytes; the limit is "
            f"{MAX_CONVERSATION_BYTES:,} bytes ({MAX_CONVERSATION_BYTES // 1024} KB). Paste the "
            "parts that matter — nothing was saved or submitted."
        )


class _PolicyRecord(Protocol):
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def ai_policy(self) -> str | None: ...
    @property
    def ai_policy_version(self) -> int | None: ...
    @property
    def ai_acknowledged_at(self) -> datetime | None: ...
    @property
    def ai_disclosure(self) -> str | None: ...
    @property
    def ai_conversation(self) -> str | None: ...


@dataclass(frozen=True)
class AiUse:
    """What staff pages show of one attempt's policy and disclosure."""

    policy: AiPolicy | None  # None: started before screens stated a policy
    wording: Wording | None
    version: int | None
    acknowledged_at: datetime | None
    disclosure: str | None
    conversation: str | None

    @property
    def label(self) -> str:
        return self.wording.label if self.wording else "Not recorded"

    @property
    def asks_disclosure(self) -> bool:
        return self.policy == AiPolicy.AI_DISCLOSED

    @property
    def time_ran_out(self) -> bool:
        """Under `ai_disclosed`, an answer without a disclosure was accepted only because
        the clock ended the attempt first."""
        return self.asks_disclosure and not self.disclosure


def ai_use(attempt: _PolicyRecord) -> AiUse | None:
    """The policy an attempt ran under; None before it started (nothing acknowledged)."""
    if attempt.started_at is None:
        return None
    policy = None
    if attempt.ai_policy is not None:
        try:
            policy = AiPolicy(attempt.ai_policy)
        except ValueError:
            policy = None
    return AiUse(
        policy=policy,
        wording=WORDING[policy] if policy else None,
        version=attempt.ai_policy_version,
        acknowledged_at=attempt.ai_acknowledged_at,
        disclosure=attempt.ai_disclosure or None,
        conversation=attempt.ai_conversation or None,
    )
