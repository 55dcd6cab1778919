"""Property-based fuzzing of every entrance for strangers' bytes (Hypothesis; see fuzzing.py).

A probe found 258 tracebacks (500s) from seven causes in JSON bodies, forms and WebSocket
messages, and "Task exception was never retrieved" tracebacks from aiortc after refused SDP
offers. The properties here, for every JSON route, the form handlers, the signaling messages
and the SDP offer path:

* no answer is a 500: every refusal is a 4xx (or a protocol ``error``) with a code;
* nothing in the log has a traceback or is an error;
* nothing hangs (each case has a deadline), and nothing leaks: no task, no peer connection,
  no file descriptor outlives the cases.

CI runs a bounded budget; ``make fuzz`` runs many more cases (``KOHTAAMO_FUZZ_SCALE``).
"""

from __future__ import annotations

import asyncio
import collections
import gc
import logging
import os
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from stream_server import strict_json
from stream_server.app import create_app
from stream_server.config import Settings
from stream_server.media.sdp import SdpError, parse_offer
from stream_server.signaling import protocol
from stream_server.web import ws as ws_module
from stream_server.web.keys import DATABASE, LIVE
from tests import fuzzing
from tests.conftest import Devices, Sessions, Staff, base_url
from tests.peers import Viewer, post_sdp, wait_until

#: Seconds any one case may take before it counts as a hang.
CASE_DEADLINE = 10.0


def _problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    gc.collect()  # "Task exception was never retrieved" is logged when the task is collected
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.exc_info is not None or r.levelno >= logging.ERROR
    ]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A page that never answers is dropped quickly, so its peer is gone before the leak check.
    return settings.replace(connect_timeout_seconds=1.0)


@pytest.fixture
def quiet_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fuzzer sends faster than a page may: lift the per-socket message rate."""
    monkeypatch.setattr(ws_module, "RateLimiter", lambda: protocol.RateLimiter(10_000, 10_000))


async def _check(response: Any, case: Any) -> None:
    assert response.status < 500, (case, await response.text())
    if response.status >= 400 and response.content_type == "application/json":
        error = (await response.json())["error"]
        assert isinstance(error["code"], str) and error["code"], case


# -- JSON -----------------------------------------------------------------------------------------
async def test_json_routes_never_answer_500(
    client: TestClient,
    sessions: Sessions,
    staff: Staff,
    devices: Devices,
    caplog: pytest.LogCaptureFixture,
) -> None:
    created = await sessions.create(venue="kantti/lava", receivers=["juankoski"])
    sid = created.session.id
    staff_token = await staff.api_token(await staff.add())
    kiosk = await devices.add("juankoski", "kiosk", "lukusali")
    routes = [
        ("POST", f"/api/sessions/{sid}/survey", None),
        ("POST", f"/api/sessions/{sid}/survey", kiosk),
        ("POST", f"/api/sessions/{sid}/headcount", staff_token),
        ("POST", f"/api/sessions/{sid}/headcount", kiosk),
        ("PUT", "/api/areas/north", staff_token),
        ("POST", f"/api/sessions/{sid}/recording", created.host_token),
        ("POST", "/api/device/heartbeat", kiosk),
    ]
    bodies = fuzzing.draw(fuzzing.JSON_BODIES, fuzzing.budget(30))
    kinds = fuzzing.draw(fuzzing.CONTENT_TYPES, 20)
    for method, path, token in routes:
        for n, body in enumerate(bodies):
            content_type = kinds[n % len(kinds)]
            headers = {"Content-Type": content_type} if content_type else {}
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            async with asyncio.timeout(CASE_DEADLINE):
                response = await client.request(method, path, data=body, headers=headers)
                await _check(response, (method, path, body[:200]))
    fuzzing.CASES["JSON requests"] += len(bodies) * len(routes)
    assert not _problems(caplog)


# -- forms ----------------------------------------------------------------------------------------
async def test_forms_never_answer_500(
    client: TestClient,
    sessions: Sessions,
    staff: Staff,
    devices: Devices,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await sessions.create()  # venues and areas
    await devices.add("kantti", "kiosk", "lava")
    csrf = await staff.login()  # the client's cookie jar holds the login
    fields = fuzzing.draw(fuzzing.FORM_FIELDS, fuzzing.budget(25))
    raws = fuzzing.draw(fuzzing.FORM_RAW, fuzzing.budget(15))
    kinds = fuzzing.draw(fuzzing.FORM_CONTENT_TYPES, 20)
    ids = fuzzing.draw(
        fuzzing.st.text(min_size=1, max_size=12) | fuzzing.st.integers(0, 10**30).map(str),
        fuzzing.budget(10),
    )
    paths = [
        "/staff/areas",
        "/staff/devices",
        *(f"/staff/devices/{quote(i, safe='')}/{a}" for i in ids for a in ("revoke", "restore")),
    ]
    for case in fields:
        for path in paths[:2]:
            body = urlencode([*case, ("csrf_token", csrf)]).encode()
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            async with asyncio.timeout(CASE_DEADLINE):
                response = await client.post(path, data=body, headers=headers)
                await _check(response, (path, case))
        async with asyncio.timeout(CASE_DEADLINE):  # the login form is open to anyone
            response = await client.post(
                "/staff/login",
                data=urlencode(case).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": ""},
                allow_redirects=False,
            )
            await _check(response, ("/staff/login", case))
    for n, raw in enumerate(raws):
        kind = kinds[n % len(kinds)]
        for path in ("/staff/login", "/staff/areas"):
            async with asyncio.timeout(CASE_DEADLINE):
                response = await client.post(path, data=raw, headers={"Content-Type": kind})
                await _check(response, (path, kind, raw))
    for path in paths[2:]:
        async with asyncio.timeout(CASE_DEADLINE):
            response = await client.post(path, data={"csrf_token": csrf}, allow_redirects=False)
            await _check(response, path)
            response = await client.get(path, allow_redirects=False)
            await _check(response, path)
    fuzzing.CASES["form requests"] += len(fields) * 3 + len(raws) * 2 + 2 * len(paths[2:])
    assert not _problems(caplog)


# -- signaling messages -------------------------------------------------------------------------
class Socket:
    """A joined signaling connection that comes back (and joins again) when closed."""

    def __init__(self, client: TestClient, session_id: str) -> None:
        self.client = client
        self.session_id = session_id
        self.ws: Any = None
        self.reconnects = 0
        #: The error codes the server answered with (to see how deep the cases reached).
        self.codes: collections.Counter[str] = collections.Counter()

    async def open(self) -> None:
        self.ws = await self.client.session.ws_connect(base_url(self.client) + "/ws")
        await self.ws.send_json(
            {"type": "join", "session": self.session_id, "attendee_key": "f" * 24}
        )
        await self.until(lambda m: m.get("type") in ("joined", "error"))

    async def until(self, done: Any) -> bool:
        """Read until ``done(message)``; False if the socket closed first."""
        while True:
            msg = await self.ws.receive()
            if msg.type != WSMsgType.TEXT:
                return False
            message = strict_json.loads(msg.data)
            if message.get("type") == "error":
                assert message.get("code"), message
                self.codes[message["code"]] += 1
            if done(message):
                return True

    async def send(self, raw: str) -> None:
        if self.ws is None or self.ws.closed:
            self.reconnects += 1
            await self.open()
        await self.ws.send_str(raw)
        await self.ws.send_json({"type": "ping"})
        if not await self.until(lambda m: m.get("type") == "pong"):
            await self.ws.close()  # "leave", a media timeout, a busy server: come back


async def test_signaling_messages_never_break_the_server(
    client: TestClient,
    sessions: Sessions,
    caplog: pytest.LogCaptureFixture,
    quiet_rate_limit: None,
) -> None:
    created = await sessions.create(mode="group")
    messages = fuzzing.draw(fuzzing.MESSAGES, fuzzing.budget(120), "signaling messages")
    socket = Socket(client, created.session.id)
    for raw in messages:
        async with asyncio.timeout(CASE_DEADLINE):
            await socket.send(raw)
    # Still serving: a fresh page joins.
    await socket.send('{"type": "ping"}')
    await socket.ws.close()
    # The cases reached the parser and the joined member's handlers, not only the first check.
    reached = {"invalid_message", "invalid_json", "unknown_type", "already_joined", "not_host"}
    assert reached <= set(socket.codes), socket.codes
    live = client.app[LIVE]
    await wait_until(lambda: not live.clients(), timeout=CASE_DEADLINE)
    assert not _problems(caplog)


def test_the_protocol_parser_raises_only_protocol_errors() -> None:
    """Every message gets a ProtocolError with a code, or is a message: nothing else escapes."""
    for raw in fuzzing.draw(fuzzing.MESSAGES, fuzzing.budget(400), "parsed messages"):
        try:
            protocol.parse_message(raw)
        except protocol.ProtocolError as exc:
            assert exc.code and exc.message


# -- SDP ------------------------------------------------------------------------------------------
@pytest.fixture
async def offer() -> str:
    viewer = Viewer()
    await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
    sdp: str = viewer.pc.localDescription.sdp
    await viewer.close()
    return sdp


def test_the_sdp_validator_raises_only_sdp_errors(offer: str) -> None:
    edits = fuzzing.draw(fuzzing.LINE_EDITS, fuzzing.budget(400), "SDP validator")
    texts = fuzzing.draw(fuzzing.st.text(max_size=300), fuzzing.budget(100), "SDP validator")
    for case in [fuzzing.mutate_sdp(offer, e) for e in edits] + texts:
        try:
            parse_offer(case, 65536)
        except SdpError as exc:
            assert str(exc)


async def test_mutated_offers_leave_nothing_behind(
    aiohttp_client: Any,
    settings: Settings,
    offer: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each mutated offer is refused with a 4xx, or answered (and its resource deleted):
    afterwards no peer, task or descriptor of theirs is left, and nothing was logged."""
    client: TestClient = await aiohttp_client(create_app(settings))
    created = await Sessions(client.app[DATABASE]).create()
    url = f"{base_url(client)}/whep/{created.session.id}"
    live = client.app[LIVE]
    # Warm up (the first peer loads codecs and opens what every later one shares).
    viewer = Viewer()
    await viewer.play(client.session, base_url(client), created.session.id)
    await viewer.close()
    await wait_until(lambda: not live.clients(), timeout=CASE_DEADLINE)
    gc.collect()
    tasks_before = len(asyncio.all_tasks())
    fds_before = _open_fds()
    edits = fuzzing.draw(fuzzing.LINE_EDITS, fuzzing.budget(40), "SDP offers to WHEP")
    statuses: dict[int, int] = {}
    for case in edits:
        sdp = fuzzing.mutate_sdp(offer, case)
        async with asyncio.timeout(CASE_DEADLINE):
            answer = await post_sdp(client.session, url, sdp)
            statuses[answer.status] = statuses.get(answer.status, 0) + 1
            assert answer.status in (201, 400, 406, 413), (answer.status, answer.body, sdp)
            if answer.status == 201:
                async with client.session.delete(base_url(client) + answer.headers["Location"]):
                    pass
    await wait_until(
        lambda: not live.clients() and not live.limits.peers.total, timeout=CASE_DEADLINE
    )
    await asyncio.sleep(0.5)  # let aiortc's own tasks of the closed peers finish
    gc.collect()
    assert len(asyncio.all_tasks()) <= tasks_before + 2, asyncio.all_tasks()
    assert _open_fds() <= fds_before + 4, (fds_before, _open_fds())
    assert not _problems(caplog), statuses
