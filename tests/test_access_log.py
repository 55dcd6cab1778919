"""The access log never holds host tokens or join codes."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from stream_server.web.access_log import AccessLogger, redact_path


def test_paths_lose_query_strings_and_join_codes():
    assert redact_path("/j/K7QP2MXA") == "/j/…"
    assert redact_path("/sessions/abc") == "/sessions/abc"


def test_logged_line_has_no_token(caplog):
    logger = logging.getLogger("test.access")
    access = AccessLogger(logger, "")
    request = make_mocked_request("GET", "/host/abc?token=SECRET-TOKEN")
    with caplog.at_level(logging.INFO, logger="test.access"):
        access.log(request, web.Response(status=200), 0.0123)
    assert "SECRET-TOKEN" not in caplog.text
    assert "GET /host/abc 200" in caplog.text
