"""The error taxonomy shared by services and the web layer.

Services raise these; the web layer turns them into a 4xx with a JSON body
``{"error": {"code": ..., "message": ...}}``. Codes are stable (tests and UIs key on them);
messages are for people.
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
        #: Machine-readable facts sent next to ``code`` (e.g. ``starts_at`` of not_started).
        self.details = details or {}
        if code is not None:
            self.code = code


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
