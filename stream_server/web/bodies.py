"""Reading request bodies: the whole body, within a size limit and a time limit.

Every handler that reads a body goes through this module. ``request.content.read(n)`` returns
what has arrived so far, not ``n`` bytes, so a body split across TCP segments was cut at the
first one (an SDP offer of a few KB usually is split). :func:`read_body` reads until the end
of the body, whether it is framed by ``Content-Length`` or sent chunked; it refuses with 413 as
soon as the body is known to be too large (at once when ``Content-Length`` says so) without
buffering the rest, and with 408 when the whole body takes longer than
``body_read_timeout_seconds`` to arrive, so a slow sender cannot hold a handler for ever.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy

from stream_server.errors import BadRequest, PayloadTooLarge, RequestTimeout
from stream_server.web.keys import SETTINGS

#: A parsed form, as aiohttp's ``request.post()`` gives it.
Form = MultiDictProxy[str | bytes | bytearray | web.FileField]


@asynccontextmanager
async def _within_deadline(request: web.Request) -> AsyncIterator[None]:
    """The body must arrive in full within ``body_read_timeout_seconds`` (else 408)."""
    seconds = request.app[SETTINGS].body_read_timeout_seconds
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise RequestTimeout(
            f"the request body did not arrive within {seconds:g} seconds", code="body_timeout"
        ) from None
    except ConnectionResetError:
        # The sender went away mid-body: nobody reads this answer, but it keeps a
        # disconnection out of the error log's tracebacks.
        raise BadRequest(
            "the connection closed before the body was complete", code="body_incomplete"
        ) from None


def _too_large(what: str, limit: int, code: str) -> PayloadTooLarge:
    """413, and the connection closes: the rest of the body is not read."""
    exc = PayloadTooLarge(f"{what} is larger than {limit} bytes", code=code)
    exc.closes_connection = True
    return exc


def _refuse_announced_size(request: web.Request, limit: int, what: str, code: str) -> None:
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(what, limit, code)


async def read_body(
    request: web.Request, limit: int, *, too_large_code: str, what: str = "the body"
) -> bytes:
    """The whole request body, at most ``limit`` bytes.

    Raises 413 ``too_large_code`` when the body is larger (before reading it when
    ``Content-Length`` announces it, otherwise as soon as the bytes received pass the limit)
    and 408 ``body_timeout`` when it does not arrive in time.
    """
    _refuse_announced_size(request, limit, what, too_large_code)
    body = bytearray()
    async with _within_deadline(request):
        while chunk := await request.content.readany():
            if len(body) + len(chunk) > limit:
                raise _too_large(what, limit, too_large_code)
            body += chunk
    return bytes(body)


async def read_form(request: web.Request) -> Form:
    """The submitted form (urlencoded or multipart), under the same time limit as other bodies.

    aiohttp's ``request.post()`` already reads the whole body, bounded by the application's
    ``client_max_size``; this adds the announced-size check and the deadline, and gives its
    refusals the same error codes and ``Connection: close`` as :func:`read_body`. The parsed
    form is cached by aiohttp, so reading it twice (the CSRF check, then the handler) is cheap.
    """
    _refuse_announced_size(request, request.client_max_size, "the form", "too_large")
    try:
        async with _within_deadline(request):
            return await request.post()
    except web.HTTPRequestEntityTooLarge:
        raise _too_large("the form", request.client_max_size, "too_large") from None
    except (
        ValueError,
        LookupError,
        AssertionError,
        web.HTTPBadRequest,
        HttpProcessingError,
    ) as exc:
        # Not UTF-8 (UnicodeDecodeError is a ValueError), a multipart body without its
        # boundary, an unknown charset, a part with broken headers: aiohttp raises any of these.
        refused = BadRequest(f"the form cannot be read: {_reason(exc)}", code="invalid_form")
        refused.closes_connection = True  # the rest of the body may be unread
        raise refused from None


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "it is not valid UTF-8"
    return (str(exc) or type(exc).__name__)[:120]
