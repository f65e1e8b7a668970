"""Domain errors that the web layer turns into 4xx responses and the CLI into messages."""

from __future__ import annotations


class ScreenError(Exception):
    status_code = 400
    code = "bad_request"
    # Some refusals record something first (late content, an expired link); the
    # request's transaction commits those before the error response goes out.
    keeps_changes = False

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InputError(ScreenError):
    status_code = 400
    code = "invalid_input"


class NotFoundError(ScreenError):
    status_code = 404
    code = "not_found"


class ConflictError(ScreenError):
    status_code = 409
    code = "conflict"


class StaleRevisionError(ConflictError):
    code = "stale_revision"


class AlreadySubmittedError(ConflictError):
    code = "already_submitted"


class TimeUpError(ScreenError):
    status_code = 410
    code = "time_up"
    keeps_changes = True


class LinkExpiredError(ScreenError):
    status_code = 410
    code = "link_expired"
    keeps_changes = True


class TooLargeError(ScreenError):
    status_code = 413
    code = "too_large"


class GoneError(ScreenError):
    """Something that existed and no longer works (an expired or revoked share link)."""

    status_code = 410
    code = "gone"


class UnretryableError(Exception):
    """A failure of a side effect that no retry can cure (an outgoing target refused by
    policy, not by the network): the outbox marks its event dead at once instead of
    retrying it for 27 hours."""
