"""The ATS partner API, in the shape of Greenhouse's Assessment Partner API.

An applicant tracking system lists our screens (`list_tests`), sends one to a
candidate (`send_test`: an ordinary invitation, so the email is queued the same
way), and polls where the candidate stands (`test_status`). When the decision is
final, the handler in `screen.pipeline.ats` PATCHes the callback URL the ATS gave,
its cue to call `test_status` again. The ATS may also report what happened next
(`outcome`), once the screen has a pass or fail result.

Every call authenticates with HTTP Basic: an API key (see `screen.accounts.api_keys`) as
the username and an empty password. Errors are always JSON,
`{"error": <code>, "message": <text>}`, whatever the client's Accept header:
machines call this API, and curl sends `Accept: */*`. A `send_test` that cannot be sent
also carries `response_error` (the same text as `message`): the field Greenhouse shows
the recruiter who pressed "Send Test", so they learn why without asking an admin.

`partner_profile_url` is the candidate report (`screen.report.reports.report_path` under
`SCREEN_BASE_URL`), the page a hiring manager reads. `metadata` is flat (string, number,
boolean or null values only), as Greenhouse stores it: the per-dimension means are
`dimension_mean_<key>` keys, not a nested object.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, cast, get_args

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, QueryParameter
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from screen.accounts import api_keys
from screen.pipeline.ats import (
    DECIDED,
    check_callback_url,
    partner_status,
    partner_test_name,
)
from screen.platform import outbound
from screen.platform.clock import Clock
from screen.platform.errors import ConflictError, InputError, NotFoundError, ScreenError
from screen.platform.models import (
    ApiKey,
    Decision,
    Invitation,
    Screen,
)
from screen.platform.rendering import iso_utc
from screen.platform.text import one_line
from screen.platform.web import DB, AppClock, AppSettings, redact, small_number
from screen.recruiting import outcomes
from screen.recruiting.invitations import invite
from screen.recruiting.screens import get_screen
from screen.report.reports import report_path
from screen.review.decisions import explained

log = logging.getLogger(__name__)

REALM = 'Basic realm="screen"'
MAX_BODY_BYTES = 64 * 1024
# The invitation's created_by column holds 200 characters: "api:<key name>:<sent_by>".
CREATED_BY_CHARS = 200
SEND_TEST = "ats:send-test"


class UnauthorizedError(ScreenError):
    status_code = 401
    code = "unauthorized"


# --- Shapes (they are also the OpenAPI schema at /schema) ---------------------------------------


@dataclass(frozen=True)
class PartnerTest:
    partner_test_id: str
    partner_test_name: str


# Closed sets and the lengths the app enforces are in the types, so the OpenAPI document says
# what the app accepts (schemathesis checks the two agree: tests/test_ats_schema.py).
EMAIL_PATTERN = r"^[A-Za-z0-9!#$%&*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
# The plain form of a public http(s) address (a conservative subset of what is accepted:
# no port, query or IP literal), so generated examples are ones the app takes.
URL_PATTERN = r"^https?://[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,20}){1,3}(/[A-Za-z0-9._~/-]*)?$"
# Names: at least one character each, and "First Last" fits the 200 characters of a name.
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
# What `normalise_email` accepts (documented, checked there with a field-specific message).
Email = Annotated[
    str,
    msgspec.Meta(
        min_length=3,
        max_length=320,
        extra_json_schema={"extra": {"pattern": EMAIL_PATTERN}},
    ),
]
# `check_callback_url` refuses anything else (and internal hosts) with a 400 naming why.
CallbackUrl = Annotated[
    str,
    msgspec.Meta(
        max_length=outbound.MAX_URL_CHARS,
        extra_json_schema={"extra": {"pattern": URL_PATTERN}},
    ),
]
Outcome = Literal["advanced", "offer", "hired", "rejected_later", "withdrew"]
PartnerStatus = Literal["sent", "started", "submitted", "complete", "expired", "withdrawn"]
if get_args(Outcome) != outcomes.OUTCOMES:  # one list of outcomes, in one order
    raise RuntimeError("ats_api.Outcome and recruiting.outcomes.OUTCOMES differ")


class SendTestCandidate(msgspec.Struct):
    """Greenhouse sends more (resume_url, greenhouse_profile_url, …); extra fields are ignored."""

    first_name: Name
    last_name: Name
    email: Email
    phone_number: str | None = None
    id: str | int | None = None
    # The name the candidate goes by; shown first in the invitation's name (`display_name`).
    preferred_name: str | None = None


class SendTestRequest(msgspec.Struct):
    partner_test_id: str | int
    candidate: SendTestCandidate
    # Where to PATCH when the result is final; without it the ATS polls test_status.
    url: CallbackUrl | None = None
    application_id: str | int | None = None
    # The email of the ATS user who pressed "Send Test"; kept in the invitation's created_by.
    sent_by: str | None = None


@dataclass(frozen=True)
class SendTestResponse:
    partner_interview_id: str


class OutcomeRequest(msgspec.Struct):
    # A string or a JSON integer, like partner_test_id: ATSs send either.
    partner_interview_id: str | int
    outcome: Outcome
    note: str = ""


class OutcomeResponse(msgspec.Struct):
    partner_interview_id: str
    outcome: Outcome


@dataclass(frozen=True)
class PartnerTestStatus:
    partner_status: PartnerStatus
    partner_profile_url: str
    partner_score: float | None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ApiError:
    error: str
    message: str


@dataclass(frozen=True)
class SendTestError:
    """A send_test refused: our usual fields, and Greenhouse's `response_error` with the
    reason it shows the recruiter."""

    error: str
    message: str
    response_error: str


ERRORS = {
    401: ResponseSpec(ApiError, description="No API key, a malformed one, or a revoked one."),
}
# 400: the body or a parameter is malformed, or a field is invalid (`error` says which kind).
BAD_INPUT = ResponseSpec(ApiError, description="Malformed JSON, or a missing or invalid field.")


# --- Authentication ----------------------------------------------------------------------------


def basic_username(header: str | None) -> str:
    """The username of an HTTP Basic Authorization header whose password is empty."""
    scheme, _, encoded = (header or "").strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise UnauthorizedError(
            "Authenticate with HTTP Basic: the API key as the username and an empty password."
        )
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise UnauthorizedError("The Authorization header is not valid HTTP Basic.") from None
    username, _, password = decoded.partition(":")
    if password:
        raise UnauthorizedError(
            "Send the API key as the username with an empty password (`-u sk_screen_…:`)."
        )
    return username


async def api_key_guard(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Every API route: a valid, unrevoked key, kept on the connection for the handler."""
    raw = basic_username(connection.headers.get("authorization"))
    clock: Clock = connection.app.state.clock
    # Its own short transaction, like the session guard: it records last_used_at.
    async with connection.app.state.sessionmaker() as db, db.begin():
        key = await api_keys.authenticate(db, raw, clock.now())
    if key is None:
        raise UnauthorizedError("This API key is not valid or has been revoked.")
    connection.state.api_key = key


def provide_api_key(request: Request[Any, Any, Any]) -> ApiKey:
    key: ApiKey | None = request.state.get("api_key")
    if key is None:  # only reachable if a route forgot its guard: fail closed
        raise UnauthorizedError("Authenticate with an API key.")
    return key


Key = NamedDependency[ApiKey]


# --- Errors ------------------------------------------------------------------------------------
#
# Litestar validates bodies and query parameters with msgspec and reports each problem as
# {"key": <dotted path, the body itself being "data">, "message": <msgspec's text>,
# "source": "body" | "query"}. msgspec's texts ("Object missing required field `email`",
# "Expected `str`, got `int`") are written for Python programmers; an ATS integrator needs
# the field's full path and what belongs in it.

BODIES = {
    SEND_TEST: "a JSON object with partner_test_id and candidate (first_name, last_name, email)",
    "ats:outcome": "a JSON object with partner_interview_id and outcome",
}
A_STRING_OR_INTEGER = "a string or an integer"
EXPECTED = {
    "partner_test_id": f"a partner_test_id from list_tests ({A_STRING_OR_INTEGER})",
    "candidate": "an object with first_name, last_name and email",
    "candidate.first_name": "a string",
    "candidate.last_name": "a string",
    "candidate.email": "the candidate's email address (a string)",
    "candidate.phone_number": "a string or null",
    "candidate.id": f"the ATS's candidate id ({A_STRING_OR_INTEGER}) or null",
    "candidate.preferred_name": "the name the candidate goes by (a string) or null",
    "sent_by": "the email of the ATS user who sent the test (a string) or null",
    "application_id": f"the ATS's application id ({A_STRING_OR_INTEGER}) or null",
    "url": "an http:// or https:// address (a string) or null",
    "partner_interview_id": f"the partner_interview_id send_test returned ({A_STRING_OR_INTEGER})",
    "outcome": f"one of {', '.join(outcomes.OUTCOMES)}",
    "note": "a string",
}
JSON_TYPES = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "null": "null",
    "object": "an object",
    "array": "an array",
}
_MISSING_FIELD = re.compile(r"Object missing required field `(?P<name>[^`]+)`")
_WRONG_TYPE = re.compile(r"Expected `(?P<expected>[^`]+)`, got `(?P<got>[^`]+)`")
_TOO_LONG = re.compile(r"Expected `str` of length <= (?P<limit>\d+)")
_TOO_SHORT = re.compile(r"Expected `str` of length >= (?P<limit>\d+)")
_NOT_IN_SET = re.compile(r"Invalid enum value .*")
_MISSING_PARAMETER = re.compile(r"Missing required (?P<kind>\w+) parameter '(?P<name>[^']+)'")


def _json_types(names: str) -> str:
    described = [JSON_TYPES.get(name, name) for name in names.split(" | ")]
    return " or ".join(described)


def _problem(item: dict[str, Any], body: str) -> str:
    """One validation problem in plain words: which field, and what belongs there."""
    key = str(item.get("key") or "")
    text = str(item.get("message") or "")
    path = "" if key in ("", "data") else key
    label = "Query parameter" if item.get("source") == "query" else "Field"
    if missing := _MISSING_FIELD.fullmatch(text):
        name = f"{path}.{missing['name']}" if path else missing["name"]
        expected = EXPECTED.get(name)
        return f"Missing field '{name}'" + (f": expected {expected}." if expected else ".")
    if not path:
        if wrong := _WRONG_TYPE.fullmatch(text):
            return f"The body must be {body}, not {_json_types(wrong['got'])}."
        if text == "'data'":  # Litestar's words when there is no body at all
            return f"The body is empty: send {body}."
        return f"The body must be {body} ({text})."
    if wrong := _WRONG_TYPE.fullmatch(text):
        expected = EXPECTED.get(path) or _json_types(wrong["expected"])
        return f"{label} '{path}' must be {expected}, not {_json_types(wrong['got'])}."
    if too_long := _TOO_LONG.fullmatch(text):
        return f"{label} '{path}' must be at most {too_long['limit']} characters."
    if too_short := _TOO_SHORT.fullmatch(text):
        return f"{label} '{path}' must be at least {too_short['limit']} characters."
    if _NOT_IN_SET.fullmatch(text) and (expected := EXPECTED.get(path)):
        return f"{path[:1].upper()}{path[1:]} must be {expected}."
    return f"{label} '{path}': {text}."


def validation_message(request: Request[Any, Any, Any], exc: ValidationException) -> str:
    body = BODIES.get(request.route_handler.name or "", "a JSON object")
    problems = [
        _problem(item, body)
        for item in (exc.extra if isinstance(exc.extra, list) else [])
        if isinstance(item, dict)
    ]
    if problems:
        return " ".join(problems)
    detail = str(exc.detail)
    if missing := _MISSING_PARAMETER.match(detail):
        name = missing["name"]
        expected = EXPECTED.get(name)
        return f"Missing {missing['kind']} parameter '{name}'" + (
            f": expected {expected}." if expected else "."
        )
    return detail


def json_error(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[ApiError] | Response[SendTestError]:
    """Errors on this API are JSON for any client, and a 401 says how to authenticate.
    A refused send_test also says why in Greenhouse's `response_error`."""
    if isinstance(exc, ScreenError):
        status, code, message = exc.status_code, exc.code, exc.message
    elif isinstance(exc, ValidationException):
        status, code, message = 400, "invalid_input", validation_message(request, exc)
    elif isinstance(exc, HTTPException) and isinstance(exc.__cause__, SerializationException):
        status, code = 400, "invalid_json"
        message = f"The body is not valid JSON ({exc.detail})."
    elif isinstance(exc, HTTPException) and exc.status_code < 500:
        status, code, message = exc.status_code, "http_error", str(exc.detail)
    else:
        log.error(
            "unhandled error on %s %s", request.method, redact(request.url.path), exc_info=exc
        )
        status, code, message = 500, "server_error", "Something went wrong on our side."
    headers = {"WWW-Authenticate": REALM} if status == 401 else None
    handler = request.scope.get("route_handler")
    if status < 500 and handler is not None and handler.name == SEND_TEST:
        return Response(
            SendTestError(code, message, response_error=message),
            status_code=status,
            headers=headers,
        )
    return Response(ApiError(code, message), status_code=status, headers=headers)


# --- The API -----------------------------------------------------------------------------------


def _id_text(value: str | int) -> str:
    """An id as the API gives it out (a string of digits), whether it came as a string or a
    JSON integer."""
    return str(value).strip()


def display_name(candidate: SendTestCandidate) -> str:
    """The candidate's name: "First Last", or "Preferred (First Last)" when they go by
    another name. The preferred name is what people call them, the legal one what the ATS
    matches on; there is no column of its own, so the one name Screen keeps shows both."""
    full = one_line(f"{candidate.first_name} {candidate.last_name}")
    preferred = one_line(candidate.preferred_name or "")
    if not preferred or preferred.casefold() in (
        full.casefold(),
        one_line(candidate.first_name).casefold(),
    ):
        return full
    return f"{preferred} ({full})"


def created_by(key: ApiKey, sent_by: str | None) -> str:
    """`api:<key name>`, and `:<sent_by>` when the ATS says which of its users sent it."""
    by = one_line(sent_by or "")
    return (f"api:{key.name}:{by}" if by else f"api:{key.name}")[:CREATED_BY_CHARS]


def _external_id(data: SendTestRequest) -> str | None:
    # Keep what the ATS gave: its candidate id, else its application id.
    for value in (data.candidate.id, data.application_id):
        if value is not None and str(value).strip():
            return str(value)
    return None


class AtsController(Controller):
    path = "/api/ats"
    guards = [api_key_guard]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {"key": Provide(provide_api_key, sync_to_thread=False)}  # noqa: RUF012
    exception_handlers = {ScreenError: json_error, HTTPException: json_error, Exception: json_error}  # noqa: RUF012
    tags = ["ATS partner API"]  # noqa: RUF012
    request_max_body_size = MAX_BODY_BYTES

    @get(
        "/list_tests",
        operation_id="list_tests",
        name="ats:list-tests",
        summary="List tests",
        description=(
            "The screens an ATS can send: every screen that is not archived. "
            "`partner_test_id` is the screen id as a string."
        ),
        responses=ERRORS,
    )
    async def list_tests(self, db: DB, key: Key) -> list[PartnerTest]:
        del key
        screens = await db.scalars(
            select(Screen)
            .where(Screen.archived_at.is_(None))
            .options(selectinload(Screen.prompt))
            .order_by(Screen.id)
        )
        return [PartnerTest(str(screen.id), partner_test_name(screen)) for screen in screens]

    @post(
        "/send_test",
        operation_id="send_test",
        name="ats:send-test",
        summary="Send a test to a candidate",
        description=(
            "Invites the candidate to the screen `partner_test_id` and queues the invitation "
            "email. `url`, if given, receives a body-less PATCH when the result is final. "
            "Returns the id to poll with `test_status`. `candidate.preferred_name`, if given, "
            "is shown as 'Preferred (First Last)'; `sent_by` (the ATS user's email) is kept "
            "with the invitation. 400 for a malformed body or email, 404 for an unknown test, "
            "409 if the candidate is already invited to it or the screen is archived; every "
            "refusal carries `response_error`, the reason to show the person who sent it."
        ),
        status_code=200,
        responses={
            **ERRORS,
            400: ResponseSpec(SendTestError, description="Malformed JSON or an invalid field."),
            404: ResponseSpec(SendTestError, description="No such test."),
            409: ResponseSpec(
                SendTestError, description="Already invited, or the screen is archived."
            ),
        },
    )
    async def send_test(
        self,
        data: JSONBody[SendTestRequest],
        db: DB,
        key: Key,
        clock: AppClock,
        settings: AppSettings,
    ) -> SendTestResponse:
        now = clock.now()
        # Everything is checked before anything is written: a refusal leaves no trace.
        callback = None
        if data.url is not None:
            callback = check_callback_url(
                data.url, allow_private=outbound.private_targets_allowed(settings)
            )
        test_id = _id_text(data.partner_test_id)
        if small_number(test_id) is None:
            raise NotFoundError(f"No test with partner_test_id {test_id[:50]!r}.")
        try:
            screen = await get_screen(db, int(test_id))
        except NotFoundError:
            raise NotFoundError(f"No test with partner_test_id {test_id!r}.") from None
        candidate = data.candidate
        new = await invite(
            db,
            screen,
            name=display_name(candidate),
            email=candidate.email,
            now=now,
            base_url=settings.base_url,
            secret_key=settings.secret_key,
            external_id=_external_id(data),
            created_by=created_by(key, data.sent_by),
            ats_callback_url=callback,
            actor=f"api_key:{key.id}:{key.prefix}",
        )
        return SendTestResponse(str(new.invitation.id))

    @get(
        "/test_status",
        operation_id="test_status",
        name="ats:test-status",
        summary="Where a candidate stands",
        description=(
            "`partner_status` is `sent`, `started`, `submitted` (waiting for or in review), "
            "`complete` (decided), `expired` or `withdrawn`. `partner_profile_url` is the "
            "candidate report. Once complete, `partner_score` is the weighted rubric score and "
            "`metadata` (flat: no nested objects) holds the outcome (`pass`/`fail`), its "
            "explanation, one `dimension_mean_<key>` per rubric dimension and whether a lead "
            "adjudicated."
        ),
        responses={
            **ERRORS,
            400: BAD_INPUT,
            404: ResponseSpec(ApiError, description="No such interview."),
        },
    )
    async def test_status(
        self,
        db: DB,
        key: Key,
        clock: AppClock,
        settings: AppSettings,
        partner_interview_id: Annotated[
            str,
            QueryParameter(description="The id send_test returned.", max_length=50),
        ],
    ) -> PartnerTestStatus:
        del key
        raw = partner_interview_id.strip()
        invitation = None
        if small_number(raw) is not None:
            invitation = await db.scalar(
                select(Invitation)
                .where(Invitation.id == int(raw))
                .options(joinedload(Invitation.attempt))
            )
        if invitation is None:
            raise NotFoundError(f"No interview with partner_interview_id {raw!r}.")
        attempt = invitation.attempt
        metadata: dict[str, Any] = {"state": attempt.state}
        score = None
        if attempt.state in DECIDED:
            decision = await db.scalar(select(Decision).where(Decision.attempt_id == attempt.id))
            if decision is not None:
                score = round(decision.weighted_score, 2)
                metadata |= {
                    "outcome": decision.outcome,
                    "explanation": explained(decision),
                    # Flat, as Greenhouse keeps metadata: one key per dimension.
                    **{
                        f"dimension_mean_{key}": value
                        for key, value in (decision.dimension_means or {}).items()
                    },
                    "adjudicated": decision.adjudicated_by_id is not None,
                    # The same form as the webhooks' and the exports' timestamps.
                    "decided_at": iso_utc(decision.adjudicated_at or decision.decided_at),
                }
        return PartnerTestStatus(
            partner_status=cast(PartnerStatus, partner_status(invitation, clock.now())),
            partner_profile_url=settings.base_url + report_path(invitation.id),
            partner_score=score,
            metadata=metadata,
        )

    @post(
        "/outcome",
        operation_id="record_outcome",
        name="ats:outcome",
        summary="Record what happened next",
        description=(
            "Tells Screen what the hiring pipeline decided after the screen: `outcome` is "
            "one of `advanced`, `offer`, `hired`, `rejected_later`, `withdrew`. Leads see "
            "how the screen's pass/fail relates to these outcomes, so an outcome is accepted "
            "only once the screen is complete (decided pass or fail). "
            "`partner_interview_id` may be a string or an integer."
        ),
        status_code=200,
        responses={
            **ERRORS,
            400: ResponseSpec(
                ApiError, description="Malformed JSON, a missing field or an unknown outcome."
            ),
            404: ResponseSpec(ApiError, description="No such interview."),
            409: ResponseSpec(ApiError, description="The screen is not finished yet."),
        },
    )
    async def record_outcome(
        self, data: JSONBody[OutcomeRequest], db: DB, key: Key, clock: AppClock
    ) -> OutcomeResponse:
        now = clock.now()
        raw = _id_text(data.partner_interview_id)
        number = small_number(raw)
        invitation = (
            await db.get(Invitation, number, options=[joinedload(Invitation.attempt)])
            if number is not None
            else None
        )
        if invitation is None:
            raise NotFoundError(f"No interview with partner_interview_id {raw[:50]!r}.")
        if data.outcome not in outcomes.OUTCOMES:  # a bad request whatever the state
            raise InputError(
                f"Outcome must be one of {', '.join(outcomes.OUTCOMES)}.", field="outcome"
            )
        # Checked here too, for a message in the partner's terms (record_outcome has the rule).
        if not outcomes.can_record(invitation):
            raise ConflictError(
                f"The screen for partner_interview_id {raw!r} is not finished: it has no pass "
                f"or fail result (partner_status {partner_status(invitation, now)!r}). Record "
                "an outcome once test_status says 'complete'."
            )
        await outcomes.record_outcome(
            db, invitation, data.outcome, data.note, f"api:{key.name}", now
        )
        return OutcomeResponse(partner_interview_id=str(invitation.id), outcome=data.outcome)
