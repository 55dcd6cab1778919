"""Turning service errors into HTTP responses with a readable body, and counting them
(``kohtaamo_http_errors_total`` by status and code, see :mod:`stream_server.web.metrics`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from stream_server.errors import KohtaamoError, TooManyRequests
from stream_server.web.keys import METRICS

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Codes for aiohttp's own HTTP errors (an unknown path, a wrong method, a body over
#: ``client_max_size``); any other status gets ``http_error``. Part of the error taxonomy
#: documented in docs/api.md.
FALLBACK_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
#: An exception no handler expected: 500 with this code, and a traceback in the log.
INTERNAL_ERROR = "internal_error"


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> web.Response:
    error: dict[str, Any] = {**(details or {}), "code": code, "message": message}
    return web.json_response({"error": error}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response, code = await _handle(request, handler)
    if response.status >= 400:
        metrics = request.app.get(METRICS)
        if metrics is not None:
            metrics.http_errors.labels(str(response.status), code).inc()
    return response


async def _handle(request: web.Request, handler: Handler) -> tuple[web.StreamResponse, str]:
    """The response and its error code (``http_error`` when a handler gave no code)."""
    try:
        return await handler(request), "http_error"
    except KohtaamoError as exc:
        logger.info("%s %s -> %d %s: %s", request.method, request.path, exc.status, exc.code, exc)
        response = error_response(exc.status, exc.code, exc.message, exc.details)
        if exc.closes_connection:
            response.force_close()
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response, exc.code
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            if exc.status >= 400:
                metrics = request.app.get(METRICS)
                if metrics is not None:
                    metrics.http_errors.labels(str(exc.status), "http_error").inc()
            raise
        code = FALLBACK_CODES.get(exc.status, "http_error")
        return error_response(exc.status, code, exc.reason or "error"), code
    except Exception:
        logger.exception("%s %s failed", request.method, request.path)
        return error_response(500, INTERNAL_ERROR, "internal server error"), INTERNAL_ERROR
