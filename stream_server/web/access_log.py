"""An access log without secrets.

aiohttp's default format logs the whole request line, and with it the host token of
``/host/{id}?token=…``; join codes in ``/j/{code}`` open private sessions. Neither belongs
in a log file. Nor does the client's address, unless ``log_client_addresses`` is on for an
investigation (then the line ends ``from ADDRESS``).
"""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from stream_server.web.addresses import client_address
from stream_server.web.keys import SETTINGS

_JOIN_CODE = re.compile(r"^/j/[^/]+")


def redact_path(path: str) -> str:
    """The path without its query string, with join codes masked."""
    return _JOIN_CODE.sub("/j/…", path)


def _with_address(request: web.BaseRequest) -> bool:
    """Whether ``log_client_addresses`` is on for the app that served ``request``."""
    try:
        settings = request.app[SETTINGS]  # type: ignore[attr-defined]
    except (AttributeError, KeyError):
        return False  # not one of our apps' requests
    return bool(settings.log_client_addresses)


class AccessLogger(AbstractAccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        line = "%s %s %d %.1f ms"
        args: tuple[object, ...] = (
            request.method,
            redact_path(request.path),
            response.status,
            time * 1000,
        )
        if _with_address(request) and isinstance(request, web.Request):
            line += " from %s"
            args += (client_address(request),)
        self.logger.info(line, *args)
