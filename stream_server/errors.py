"""The error taxonomy shared by services and the web layer.

Services raise these; the web layer turns them into a 4xx with a JSON body
``{"error": {"code": ..., "message": ...}}``. Codes are stable (tests and UIs key on them);
messages are for people. Some errors say more, in fields of their own beside ``code`` and
``message`` (:attr:`KohtaamoError.details`): ``field`` for a wrong request field, ``conflict``
for the session a double booking collides with.
"""

from __future__ import annotations

from typing import Any


class KohtaamoError(Exception):
    status = 400
    code = "bad_request"
    #: The request's body was not read to its end, so the connection cannot carry another
    #: request: the answer says ``Connection: close``.
    closes_connection = False

    def __init__(
        self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        #: Extra members of the JSON error object, next to ``code`` and ``message`` (e.g.
        #: ``starts_at`` of not_started, ``field`` of invalid_field).
        self.details: dict[str, Any] = dict(details or {})


class BadRequest(KohtaamoError):
    status = 400
    code = "bad_request"


class Unauthorized(KohtaamoError):
    status = 401
    code = "unauthorized"


class Forbidden(KohtaamoError):
    status = 403
    code = "forbidden"


class NotFound(KohtaamoError):
    status = 404
    code = "not_found"


class NotAcceptable(KohtaamoError):
    status = 406
    code = "not_acceptable"


class Conflict(KohtaamoError):
    status = 409
    code = "conflict"


class Gone(KohtaamoError):
    status = 410
    code = "gone"


class RequestTimeout(KohtaamoError):
    status = 408
    code = "body_timeout"
    closes_connection = True


class PayloadTooLarge(KohtaamoError):
    status = 413
    code = "too_large"


class UnsupportedMediaType(KohtaamoError):
    status = 415
    code = "unsupported_media_type"


class TooManyRequests(KohtaamoError):
    """Come back later: ``retry_after`` whole seconds (sent as the ``Retry-After`` header)."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class Unavailable(KohtaamoError):
    status = 503
    code = "unavailable"


class InvalidField(BadRequest):
    """One field of a request is wrong: ``{"code": "invalid_field", "field": NAME, ...}``."""

    code = "invalid_field"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, details={"field": field})
        self.field = field


class OutOfScope(Forbidden):
    """The staff member's role does not reach this venue, organiser or session."""

    code = "out_of_scope"


class RoomTaken(Conflict):
    """A host room is booked for an overlapping time: ``"conflict"`` names that session."""

    code = "room_taken"

    def __init__(self, message: str, conflict: str) -> None:
        super().__init__(message, details={"conflict": conflict})
        self.conflict = conflict
