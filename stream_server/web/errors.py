"""Turning service errors into HTTP responses with a readable body."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from stream_server.errors import KohtaamoError, TooManyRequests

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> web.Response:
    error: dict[str, Any] = {**(details or {}), "code": code, "message": message}
    return web.json_response({"error": error}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except KohtaamoError as exc:
        logger.info("%s %s -> %d %s: %s", request.method, request.path, exc.status, exc.code, exc)
        response = error_response(exc.status, exc.code, exc.message, exc.details)
        if exc.closes_connection:
            response.force_close()
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status, "http_error"
        )
        return error_response(exc.status, code, exc.reason or "error")
    except Exception:
        logger.exception("%s %s failed", request.method, request.path)
        return error_response(500, "internal_error", "internal server error")
