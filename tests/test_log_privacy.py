"""The log holds no client addresses (docs/privacy.md), unless an investigation turns them on.

What broke: ``web/ws.py`` logged every protocol error with the client's address,
``web/staff_auth.py`` every staff login and failed login with it, aiohttp itself writes
"Error handling request from ADDRESS", and a refused tablet's line named the device and the
session ("device 7 has no part in session …"), tying a home-care client's tablet to what it
tried to join.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request

from stream_server.app import create_app
from stream_server.config import Settings
from stream_server.logs import REDACTED, AddressRedactingFormatter, redact_addresses
from stream_server.web.access_log import AccessLogger
from tests.conftest import Devices, Sessions, Staff, base_url
from tests.peers import Viewer, wait_until
from tests.servers import free_port, start_server


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Error handling request from 198.51.100.7", f"Error handling request from {REDACTED}"),
        ("from 198.51.100.7.", f"from {REDACTED}."),
        ("peer 10.0.0.1:5000 left", f"peer {REDACTED}:5000 left"),
        ("('10.1.2.3', 40000)", f"('{REDACTED}', 40000)"),
        ("2001:db8::1 and fe80::1%eth0", f"{REDACTED} and {REDACTED}"),
        ("[::ffff:192.0.2.3]:443", f"[{REDACTED}]:443"),
        ("loopback too: 127.0.0.1 and ::1", f"loopback too: {REDACTED} and {REDACTED}"),
        # Not addresses: left alone.
        ("2026-12-03 09:51:12,345 INFO started", "2026-12-03 09:51:12,345 INFO started"),
        ("aiortc 1.16.0, libsrtp 2.5.0.1.2", "aiortc 1.16.0, libsrtp 2.5.0.1.2"),
        ("mac aa:bb:cc:dd:ee:ff", "mac aa:bb:cc:dd:ee:ff"),
        ("ws abc123/4: not_joined", "ws abc123/4: not_joined"),
        ("999.1.1.1", "999.1.1.1"),
    ],
)  # fmt: skip
def test_addresses_are_redacted_and_nothing_else(text: str, expected: str) -> None:
    assert redact_addresses(text) == expected


def test_the_formatter_redacts_arguments_and_tracebacks() -> None:
    formatter = AddressRedactingFormatter("%(levelname)s %(message)s")
    try:
        raise OSError("connect to 192.0.2.55 port 5432 failed")
    except OSError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "aiohttp.server", logging.ERROR, __file__, 1, "Error handling request from %s",
        ("203.0.113.9",), exc_info,
    )  # fmt: skip
    line = formatter.format(record)
    assert "203.0.113.9" not in line and "192.0.2.55" not in line
    assert f"Error handling request from {REDACTED}" in line
    assert f"connect to {REDACTED} port 5432 failed" in line


def messages(caplog: pytest.LogCaptureFixture) -> str:
    """What Kohtaamo's own code wrote, before any formatter: the source must not rely on it.
    (The test server's access log is aiohttp's default one, not the server's.)"""
    return "\n".join(
        record.getMessage() for record in caplog.records if record.name.startswith("stream_server")
    )


async def test_logins_protocol_errors_and_refused_tablets_log_no_address(
    client: TestClient,
    staff: Staff,
    sessions: Sessions,
    devices: Devices,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="stream_server")
    await staff.login("anna")
    failed = await client.post(
        "/staff/login", data={"name": "anna", "password": "wrong", "next": "/staff"}
    )
    assert failed.status == 401
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("{not json")
        await ws.receive()
    created = await sessions.create(private=True)
    tablet = await devices.add("nilsia", "tablet")
    viewer = Viewer()
    try:
        refused = await viewer.play(client.session, base_url(client), created.session.id, tablet)
    finally:
        await viewer.close()
    assert refused.status == 403 and "device_not_allowed" in refused.body
    text = messages(caplog)
    assert "staff login failed for 'anna'" in text and "staff 'anna' logged in" in text
    assert "device_not_allowed" in text
    assert "127.0.0.1" not in text and "::1" not in text
    # The refusal names neither the tablet nor (next to it) the session it tried.
    assert "device 1 " not in text and "has no part in session" not in text


async def test_an_investigation_may_turn_addresses_on(
    settings: Settings, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = await aiohttp_client(create_app(settings.replace(log_client_addresses=True)))
    caplog.set_level(logging.INFO)
    response = await client.post(
        "/staff/login", data={"name": "nobody", "password": "x", "next": "/staff"}
    )
    assert response.status == 401
    assert "staff login failed for 'nobody' from 127.0.0.1" in messages(caplog)


async def test_the_running_server_writes_no_address_even_for_aiohttps_own_errors(
    settings: Settings, tmp_path: Path
) -> None:
    """End to end: ``kohtaamo serve`` at DEBUG; aiohttp's "Error handling request from …"
    (a malformed request) comes out redacted, and no line holds an address."""
    port = free_port()
    log = tmp_path / "server.log"
    env = {"KOHTAAMO_LOG_LEVEL": "DEBUG"}
    proc = await start_server(settings.database_url, port, env, log=log)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
        await writer.drain()
        await reader.read()  # the server answers 400 and closes
        writer.close()
        await writer.wait_closed()
        await wait_until(lambda: "Error handling request" in log.read_text(), timeout=10)
    finally:
        proc.terminate()
        await proc.wait()
    text = log.read_text()
    assert f"Error handling request from {REDACTED}" in text
    assert redact_addresses(text) == text, [
        line for line in text.splitlines() if redact_addresses(line) != line
    ][:5]


@pytest.mark.parametrize("on", [False, True])
def test_the_access_log_names_the_client_only_for_an_investigation(
    settings: Settings, caplog: pytest.LogCaptureFixture, on: bool
) -> None:
    app = create_app(settings.replace(log_client_addresses=on))

    class Transport:
        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return ("198.51.100.7", 40000) if name == "peername" else default

        def is_closing(self) -> bool:
            return False

    request = make_mocked_request("GET", "/sessions/abc", app=app, transport=Transport())
    logger = logging.getLogger("test.access.privacy")
    with caplog.at_level(logging.INFO, logger="test.access.privacy"):
        AccessLogger(logger, "").log(request, web.Response(status=200), 0.01)
    assert ("from 198.51.100.7" in caplog.text) is on
    assert "GET /sessions/abc 200" in caplog.text
