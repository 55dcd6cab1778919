"""An access log without secrets.

aiohttp's default format logs the whole request line, and with it the host token of
``/host/{id}?token=…``; join codes in ``/j/{code}`` open private sessions. Neither belongs
in a log file.
"""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

_JOIN_CODE = re.compile(r"^/j/[^/]+")


def redact_path(path: str) -> str:
    """The path without its query string, with join codes masked."""
    return _JOIN_CODE.sub("/j/…", path)


class AccessLogger(AbstractAccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %d %.1f ms",
            request.method,
            redact_path(request.path),
            response.status,
            time * 1000,
        )
