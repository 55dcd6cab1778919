"""The live-session redesign as specifications: the same media and news for every client,
one vocabulary in the ledger, and the layers' dependencies pointing one way."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiortc import RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from sqlalchemy import select

from stream_server.db.engine import upgrade_database
from stream_server.db.models import Participant
from stream_server.web.keys import DATABASE, LIVE
from tests.conftest import base_url
from tests.peers import ColourTrack, Publisher, Viewer, colour_close, new_peer, post_sdp, wait_until
from tests.ws_peer import WsParticipant

RED = (220, 30, 30)
GREEN = (30, 200, 40)
ROOT = Path(__file__).resolve().parent.parent


class TwoScreenViewer:
    """A WHEP player that offers two video m-lines (and sound), like the room agent."""

    def __init__(self) -> None:
        self.pc = new_peer()
        self.camera = self.pc.addTransceiver("video", direction="recvonly")
        self.screen = self.pc.addTransceiver("video", direction="recvonly")
        self.pc.addTransceiver("audio", direction="recvonly")
        self.rgb: dict[str, tuple[float, ...]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        mid = next(t.mid for t in self.pc.getTransceivers() if t.receiver.track is track)
        if track.kind == "video":
            self._tasks.append(asyncio.ensure_future(self._consume(mid, track)))

    async def _consume(self, mid: str, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await track.recv()
                pixels = frame.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)
                self.rgb[mid] = tuple(float(c) for c in pixels)

    async def play(self, client: Any, session_id: str) -> int:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        resp = await post_sdp(
            client.session, f"{base_url(client)}/whep/{session_id}", self.pc.localDescription.sdp
        )
        if resp.status == 201:
            await self.pc.setRemoteDescription(RTCSessionDescription(resp.body, "answer"))
        return resp.status

    def colour(self, transceiver: Any) -> tuple[float, ...] | None:
        return self.rgb.get(transceiver.mid)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.pc.close()


async def presenter_sharing_screen(client: Any, sid: str, host_token: str) -> WsParticipant:
    """A presenter page publishing its camera (red) and a shared screen (green)."""
    host = WsParticipant(client.session, base_url(client))
    joined = await host.join(session=sid, role="host", token=host_token, channel="presenter")
    assert joined["type"] == "joined", joined
    host.local["video"] = ColourTrack(RED)
    host.local["screen"] = ColourTrack(GREEN)
    await host.send({"type": "publish", "tracks": ["video", "screen"]})
    return host


async def test_a_whep_player_offering_two_video_lines_gets_the_screen_share_on_the_second(
    client, sessions
):
    """Before: a WHEP player (and so the room agent) never got the presenter's slides."""
    created = await sessions.create()
    sid = created.session.id
    host = await presenter_sharing_screen(client, sid, created.host_token)
    player = TwoScreenViewer()
    try:
        assert await player.play(client, sid) == 201
        await wait_until(
            lambda: (
                colour_close(player.colour(player.camera), RED)  # type: ignore[arg-type]
                and colour_close(player.colour(player.screen), GREEN)
            ),  # type: ignore[arg-type]
            timeout=30,
        )
    finally:
        await player.close()
        await host.close()


async def test_a_whep_player_with_one_video_line_gets_the_camera_only(client, sessions):
    created = await sessions.create()
    sid = created.session.id
    host = await presenter_sharing_screen(client, sid, created.host_token)
    viewer = Viewer()
    try:
        assert (await viewer.play(client.session, base_url(client), sid)).status == 201
        await viewer.wait_for(
            lambda: viewer.video_frames > 5 and colour_close(viewer.last_rgb, RED)
        )
    finally:
        await viewer.close()
        await host.close()


@contextlib.asynccontextmanager
async def event_stream(
    client: Any, sid: str, token: str | None = None
) -> AsyncIterator[tuple[ClientResponse, asyncio.Queue[dict[str, Any]]]]:
    """``GET /api/sessions/{id}/events`` parsed into (event, data) as they arrive."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with client.session.get(
        f"{base_url(client)}/api/sessions/{sid}/events", headers=headers
    ) as resp:
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def read() -> None:
            name = None
            async for raw in resp.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    assert data["type"] == name, (name, data)
                    await events.put(data)
            await events.put({"type": "<closed>"})

        reader = asyncio.create_task(read()) if resp.status == 200 else None
        try:
            yield resp, events
        finally:
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader


async def next_event(events: asyncio.Queue[dict[str, Any]]) -> dict[str, Any]:
    return await asyncio.wait_for(events.get(), 20)


async def test_a_whep_side_listener_learns_that_recording_started_stopped_and_the_session_ended(
    client, sessions
):
    """Before: recording news reached only WebSocket pages; a room agent showed nothing."""
    created = await sessions.create()
    sid = created.session.id
    publisher = Publisher(RED)
    viewer = Viewer()
    base = base_url(client)
    auth = {"Authorization": f"Bearer {created.publish_token}"}
    try:
        assert (
            await publisher.publish(client.session, base, sid, created.publish_token)
        ).status == 201
        assert (await viewer.play(client.session, base, sid)).status == 201
        async with event_stream(client, sid) as (resp, events):
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            assert await next_event(events) == {"type": "recording", "on": False}
            on = await client.post(
                f"/api/sessions/{sid}/recording", json={"on": True}, headers=auth
            )
            assert on.status == 200, await on.text()
            assert await next_event(events) == {"type": "recording", "on": True}
            off = await client.post(
                f"/api/sessions/{sid}/recording", json={"on": False}, headers=auth
            )
            assert off.status == 200
            assert await next_event(events) == {"type": "recording", "on": False}
            await client.app[LIVE].end_session(sid)
            assert await next_event(events) == {"type": "ended"}
            assert await next_event(events) == {"type": "<closed>"}  # the stream ends with it
    finally:
        await viewer.close()
        await publisher.close()


async def test_a_late_listener_hears_the_current_recording_state_first(client, sessions):
    created = await sessions.create()
    sid = created.session.id
    publisher = Publisher(RED)
    base = base_url(client)
    try:
        assert (
            await publisher.publish(client.session, base, sid, created.publish_token)
        ).status == 201
        auth = {"Authorization": f"Bearer {created.publish_token}"}
        resp = await client.post(f"/api/sessions/{sid}/recording", json={"on": True}, headers=auth)
        assert resp.status == 200
        async with event_stream(client, sid) as (_, events):
            assert await next_event(events) == {"type": "recording", "on": True}
    finally:
        await publisher.close()


async def test_the_event_stream_of_a_private_session_needs_its_join_code(client, sessions):
    created = await sessions.create(private=True)
    sid = created.session.id
    async with event_stream(client, sid) as (resp, _):
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "join_code_missing"
    async with event_stream(client, sid, "WRONGCODE") as (resp, _):
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "join_code_invalid"
    async with event_stream(client, sid, created.session.join_code) as (resp, events):
        assert resp.status == 200
        assert await next_event(events) == {"type": "recording", "on": False}
    async with event_stream(client, "nosuchsession") as (resp, _):
        assert resp.status == 404


async def _has_rows(rows: Any, count: int) -> bool:
    return len(await rows) == count


async def test_the_ledger_uses_one_role_vocabulary_on_every_channel(client, sessions):
    """Before: WHIP/WHEP wrote publisher/viewer, the WebSocket host/participant."""
    created = await sessions.create()
    sid = created.session.id
    base = base_url(client)
    publisher, viewer = Publisher(RED), Viewer()
    host = WsParticipant(client.session, base)
    page = WsParticipant(client.session, base)
    try:
        assert (
            await publisher.publish(client.session, base, sid, created.publish_token)
        ).status == 201
        assert (await viewer.play(client.session, base, sid)).status == 201
        joined = await host.join(
            session=sid, role="host", token=created.host_token, channel="presenter"
        )
        assert joined["role"] == "host"
        assert (await page.join(session=sid))["role"] == "participant"
        # Each is counted once its media flows: the host page when it publishes.
        host.local["video"] = ColourTrack(GREEN)
        await host.send({"type": "publish", "tracks": ["video"]})

        async def rows_written() -> list[Any]:
            async with client.app[DATABASE].session() as db:
                return list(
                    (
                        await db.execute(
                            select(Participant.channel, Participant.role).where(
                                Participant.session_id == sid
                            )
                        )
                    ).all()
                )

        await wait_until(lambda: _has_rows(rows_written(), 4), timeout=30)
        rows = await rows_written()
        assert sorted(rows) == [
            ("browser", "participant"),
            ("presenter", "host"),
            ("whep", "participant"),
            ("whip", "host"),
        ]
    finally:
        for peer in (page, host, viewer, publisher):
            await peer.close()


def test_the_role_migration_rewrites_old_rows(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/old.sqlite3"
    upgrade_database(url, "0003")
    path = tmp_path / "old.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(participants)")]
        assert "role" in columns
        db.execute("PRAGMA foreign_keys=OFF")
        for channel, role in (
            ("whip", "publisher"),
            ("whep", "viewer"),
            ("browser", "participant"),
            ("presenter", "host"),
        ):
            db.execute(
                "INSERT INTO participants (session_id, channel, role, is_device, "
                "first_joined_at, surveyed) VALUES ('s1', ?, ?, 0, '2026-01-01 10:00:00', 0)",
                (channel, role),
            )
        db.commit()
    upgrade_database(url)
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = sorted(db.execute("SELECT channel, role FROM participants"))
    assert rows == [
        ("browser", "participant"),
        ("presenter", "host"),
        ("whep", "participant"),
        ("whip", "host"),
    ]


# -- the layers ------------------------------------------------------------------------------
def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize(
    "path",
    [p for p in _modules("stream_server") if "media" not in p.relative_to(ROOT).parts],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_only_the_media_package_imports_aiortc_aioice_or_pylibsrtp(path):
    webrtc = {"aiortc", "aioice", "pylibsrtp"}
    assert not {name for name in _imports(path) if name.split(".")[0] in webrtc}


@pytest.mark.parametrize("path", _modules("stream_server/media"), ids=lambda p: p.name)
def test_media_knows_no_http_no_sessions_and_no_database(path):
    forbidden = ("aiohttp", "stream_server.web", "stream_server.live", "stream_server.db")
    assert not {name for name in _imports(path) if name.startswith(forbidden)}


@pytest.mark.parametrize("path", _modules("stream_server/live"), ids=lambda p: p.name)
def test_the_live_layer_knows_no_http(path):
    assert not {
        name for name in _imports(path) if name.startswith(("aiohttp", "stream_server.web"))
    }


def test_membership_is_pure():
    allowed = {
        "__future__",
        "dataclasses",
        "itertools",
        "collections.abc",
        "stream_server.vocabulary",
    }
    assert _imports(ROOT / "stream_server/live/membership.py") <= allowed


@pytest.mark.parametrize(("doors_open_minutes", "answer"), [(30.0, "error"), (90.0, "joined")])
async def test_door_times_come_from_the_settings(
    aiohttp_client, settings, doors_open_minutes, answer
):
    """A page may join from ``doors_open_minutes`` before the start (city constants are
    settings, not code)."""
    import datetime as dt

    from stream_server.app import create_app
    from stream_server.basics import utcnow
    from tests.conftest import Sessions

    client = await aiohttp_client(
        create_app(settings.replace(doors_open_minutes=doors_open_minutes))
    )
    created = await Sessions(client.app[DATABASE]).create(
        starts_at=utcnow() + dt.timedelta(minutes=60)
    )
    page = WsParticipant(client.session, base_url(client))
    try:
        reply = await page.join(session=created.session.id)
        assert reply["type"] == answer, reply
        if answer == "error":
            assert reply["code"] == "not_started"
    finally:
        await page.close()
