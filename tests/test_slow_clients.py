"""Slow clients cannot hold connections: request heads have a deadline.

The probe opened 50 connections that each sent half of their headers: 25 were still open after
47 s (aiohttp waits an hour by default). Now a connection without a complete request head is
closed ``header_read_timeout_seconds`` after it opened (or after its last response), however
slowly it keeps sending; bodies have their own deadline (tests/test_request_bodies.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from stream_server.app import create_app, server_options
from stream_server.config import Settings
from tests.conftest import base_url
from tests.servers import free_port, start_server

DEADLINE = 1.0


async def _slow_head(host: str, port: int, trickle: bool) -> float:
    """Half a request head, then a byte now and then: seconds until the server hangs up."""
    reader, writer = await asyncio.open_connection(host, port)
    started = time.monotonic()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: kohtaamo\r\nX-Slow: ")
    await writer.drain()
    try:
        while True:
            try:
                data = await asyncio.wait_for(reader.read(1024), 0.3)
            except TimeoutError:
                if trickle:
                    writer.write(b"a")
                    await writer.drain()
                continue
            if not data:
                return time.monotonic() - started
            raise AssertionError(f"the server answered a request it never got: {data!r}")
    except (ConnectionResetError, BrokenPipeError):
        return time.monotonic() - started
    finally:
        writer.close()


async def _app(aiohttp_client: Any, settings: Settings) -> TestClient:
    settings = settings.replace(header_read_timeout_seconds=DEADLINE)
    # TestServer drops options given to its constructor: start it with them ourselves.
    server = TestServer(create_app(settings))
    await server.start_server(**server_options(settings))
    client: TestClient = await aiohttp_client(server)
    return client


async def test_half_sent_headers_are_cut_off_at_the_deadline(
    aiohttp_client: Any, settings: Settings
) -> None:
    client = await _app(aiohttp_client, settings)
    host, port = str(client.host), int(client.port)
    waited = await asyncio.wait_for(
        asyncio.gather(*(_slow_head(host, port, trickle=n % 2 == 0) for n in range(50))),
        timeout=DEADLINE + 15,
    )
    assert all(DEADLINE * 0.9 <= seconds < DEADLINE + 5 for seconds in waited), waited
    # The server is fine for everybody else.
    assert (await client.get("/healthz")).status == 200


async def test_a_connection_that_says_nothing_is_closed_too(
    aiohttp_client: Any, settings: Settings
) -> None:
    client = await _app(aiohttp_client, settings)
    reader, writer = await asyncio.open_connection(str(client.host), int(client.port))
    started = time.monotonic()
    assert await asyncio.wait_for(reader.read(), DEADLINE + 5) == b""
    assert time.monotonic() - started >= DEADLINE * 0.9
    writer.close()


async def test_a_long_websocket_is_not_cut_by_the_header_deadline(
    aiohttp_client: Any, settings: Settings
) -> None:
    client = await _app(aiohttp_client, settings)
    ws = await client.session.ws_connect(base_url(client) + "/ws")
    until = time.monotonic() + DEADLINE * 3
    while time.monotonic() < until:
        await ws.send_json({"type": "ping"})
        assert (await ws.receive_json())["type"] == "error"  # not_joined: it is alive
        await asyncio.sleep(0.2)
    assert not ws.closed
    await ws.close()


async def test_the_served_app_uses_the_deadline(settings: Settings) -> None:
    """``kohtaamo serve`` passes the setting to aiohttp (not only the test server)."""
    port = free_port()
    proc = await start_server(
        settings.database_url, port, {"KOHTAAMO_HEADER_READ_TIMEOUT_SECONDS": str(DEADLINE)}
    )
    try:
        waited = await asyncio.wait_for(_slow_head("127.0.0.1", port, trickle=True), 15)
        assert waited < DEADLINE + 5
    finally:
        proc.terminate()
        await proc.wait()
