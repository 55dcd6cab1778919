"""Host moderation in group sessions: mute and remove, with real aiortc peers (and a browser)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from stream_server.db.models import AttendanceInterval
from stream_server.db.models import Participant as ParticipantRow
from stream_server.web.keys import DATABASE
from tests import browser as browser_helpers
from tests.browser import MEDIA_TIMEOUT_MS, assert_no_page_errors, open_page, page_log, poll
from tests.conftest import base_url
from tests.peers import wait_until
from tests.ws_peer import WsParticipant

RED = (220, 40, 40)
chromium = browser_helpers.chromium  # the fixture, by the name the browser test asks for


async def attendance(client: Any, sid: str) -> dict[str, Any]:
    async with client.get(f"/api/sessions/{sid}/attendance") as resp:
        return await resp.json()


async def _group(client: Any, sessions: Any) -> tuple[str, WsParticipant, WsParticipant, Any]:
    """A group session with its host and one participant ``a`` who publishes."""
    created = await sessions.create(mode="group")
    sid, base = created.session.id, base_url(client)
    host = WsParticipant(client.session, base)
    joined = await host.join(
        session=sid, role="host", token=created.host_token, channel="presenter"
    )
    assert joined["type"] == "joined" and joined["role"] == "host"
    a = WsParticipant(client.session, base)
    assert (await a.join(session=sid))["type"] == "joined"
    await a.publish(RED)
    return sid, host, a, created


def _audio_from(peer: WsParticipant, publisher: int) -> int:
    mid = peer.mid_of(publisher, "audio")
    return 0 if mid is None else peer.audio_frames.get(mid, 0)


def _video_from(peer: WsParticipant, publisher: int) -> int:
    mid = peer.mid_of(publisher, "video")
    return 0 if mid is None else peer.frames.get(mid, 0)


async def _frames_pass(peer: WsParticipant, count: Any, more: int = 40) -> None:
    """Wait until ``count()`` has grown by ``more``: media kept flowing meanwhile."""
    start = count()
    await peer.wait_for(lambda: count() >= start + more, timeout=40)


def _roster_entry(peer: WsParticipant, pid: int) -> dict[str, Any] | None:
    for message in reversed(peer.messages):
        if message["type"] == "participants":
            return next((p for p in message["participants"] if p["id"] == pid), None)
    return None


async def test_only_the_host_moderates_and_bad_targets_are_refused(client, sessions):
    sid, host, a, _ = await _group(client, sessions)
    b = WsParticipant(client.session, base_url(client))
    await b.join(session=sid)
    await b.wait_for(lambda: _audio_from(b, a.id) > 10, timeout=40)

    for action in ("mute-audio", "remove"):
        await b.send({"type": "moderate", "participant": a.id, "action": action})
        error = await b.next_message(lambda m: m["type"] == "error")
        assert error["code"] == "not_host" and error["ref"] == "moderate"
    # Nothing changed: a was told nothing, is still connected, and b still hears a.
    await _frames_pass(b, lambda: _audio_from(b, a.id))
    assert not any(m["type"] in ("moderated", "removed") for m in a.messages)
    assert (await attendance(client, sid))["online_now"] == 2
    assert _roster_entry(b, a.id)["muted"] == {"audio": False, "video": False}

    await host.send({"type": "moderate", "participant": 9999, "action": "mute-audio"})
    error = await host.next_message(lambda m: m["type"] == "error")
    assert error["code"] == "unknown_participant"
    await host.send({"type": "moderate", "participant": a.id, "action": "explode"})
    error = await host.next_message(lambda m: m["type"] == "error")
    assert error["code"] == "invalid_message" and "action" in error["message"]
    await host.send({"type": "moderate", "participant": "1", "action": "remove"})
    error = await host.next_message(lambda m: m["type"] == "error")
    assert error["code"] == "invalid_message"
    # A participant of another session is unknown here, not removable.
    other = await sessions.create(mode="group")
    stranger = WsParticipant(client.session, base_url(client))
    await stranger.join(session=other.session.id)
    await host.send({"type": "moderate", "participant": stranger.id, "action": "remove"})
    error = await host.next_message(lambda m: m["type"] == "error")
    assert error["code"] == "unknown_participant"
    assert not any(m["type"] == "removed" for m in stranger.messages)
    await asyncio.gather(*(p.close() for p in (host, a, b, stranger)))


async def test_host_mute_stops_forwarding_and_the_participant_may_unmute(client, sessions):
    sid, host, a, _ = await _group(client, sessions)
    b = WsParticipant(client.session, base_url(client))
    await b.join(session=sid)
    await b.wait_for(lambda: _audio_from(b, a.id) > 10 and _video_from(b, a.id) > 5, timeout=40)

    await host.send({"type": "moderate", "participant": a.id, "action": "mute-audio"})
    told = await a.next_message(lambda m: m["type"] == "moderated")
    assert told == {"type": "moderated", "action": "mute-audio"}
    await host.wait_for(lambda: (_roster_entry(host, a.id) or {}).get("muted_by_host") == ["audio"])
    assert _roster_entry(host, a.id)["muted"] == {"audio": True, "video": False}
    # a's page here ignores the message and keeps sending sound: the server holds it back.
    # Packets already on their way may still arrive; after that, not one more, while a's
    # video keeps flowing to b.
    await _frames_pass(b, lambda: _video_from(b, a.id), 30)  # ~1 s for what was in flight
    held_at = _audio_from(b, a.id)
    await _frames_pass(b, lambda: _video_from(b, a.id), 40)
    assert _audio_from(b, a.id) == held_at
    # The host hears nothing from a either (everyone's subscription follows the same slot).
    host_held_at = _audio_from(host, a.id)
    await _frames_pass(host, lambda: _video_from(host, a.id), 30)
    assert _audio_from(host, a.id) == host_held_at

    # a unmutes itself: forwarding resumes.
    await a.send({"type": "mute", "audio": False, "video": False})
    await _frames_pass(b, lambda: _audio_from(b, a.id), 25)
    await host.wait_for(lambda: (_roster_entry(host, a.id) or {}).get("muted_by_host") == [])

    # The camera too: video stops, sound goes on; turning it on again brings it back.
    await host.send({"type": "moderate", "participant": a.id, "action": "mute-video"})
    assert (await a.next_message(lambda m: m["type"] == "moderated"))["action"] == "mute-video"
    await _frames_pass(b, lambda: _audio_from(b, a.id), 50)
    video_held_at = _video_from(b, a.id)
    await _frames_pass(b, lambda: _audio_from(b, a.id), 40)
    assert _video_from(b, a.id) == video_held_at
    await a.send({"type": "mute", "audio": False, "video": False})
    await _frames_pass(b, lambda: _video_from(b, a.id), 10)
    await asyncio.gather(*(p.close() for p in (host, a, b)))


async def test_remove_closes_attendance_once_and_refuses_the_same_key(client, sessions):
    sid, host, a, _ = await _group(client, sessions)
    b = WsParticipant(client.session, base_url(client))
    await b.join(session=sid)
    await b.wait_for(lambda: _video_from(b, a.id) > 3, timeout=40)
    assert (await attendance(client, sid))["online_now"] == 2

    await host.send({"type": "moderate", "participant": a.id, "action": "remove"})
    assert (await a.next_message(lambda m: m["type"] == "removed")) == {"type": "removed"}
    assert a._reader is not None
    await asyncio.wait_for(asyncio.shield(a._reader), 20)  # the server closed a's socket
    assert a.ws is not None and a.ws.close_code == 4003
    await host.wait_for(lambda: _roster_entry(host, a.id) is None and _roster_entry(host, b.id))
    await wait_until(lambda: _online_now_is(client, sid, 1))

    async with client.app[DATABASE].session() as db:
        rows = (
            await db.scalars(
                select(AttendanceInterval)
                .join(ParticipantRow)
                .where(ParticipantRow.session_id == sid, ParticipantRow.channel == "browser")
                .order_by(AttendanceInterval.id)
            )
        ).all()
    closed = [r for r in rows if r.left_at is not None]
    assert [r.close_reason for r in closed] == ["removed"]  # a's one interval, closed once
    assert len(rows) == 2  # a's and b's; b's is still open
    figures = await attendance(client, sid)
    assert figures["online_total"] == 2  # a took part, so a still counts

    # The same page (same attendee key) is refused for the rest of the session ...
    again = WsParticipant(client.session, base_url(client))
    again.attendee_key = a.attendee_key
    refused = await again.join(session=sid)
    assert refused["type"] == "error" and refused["code"] == "removed"
    assert (await attendance(client, sid))["online_now"] == 1
    # ... while someone new still gets in, and is sent a's leftover nothing.
    newcomer = WsParticipant(client.session, base_url(client))
    assert (await newcomer.join(session=sid))["type"] == "joined"
    # Nobody publishes now: the newcomer counts once its own camera's media flows.
    await newcomer.publish(RED)
    await wait_until(lambda: _online_now_is(client, sid, 2), timeout=30)
    # A host cannot be removed (by another host either).
    await host.send({"type": "moderate", "participant": host.id, "action": "remove"})
    assert (await host.next_message(lambda m: m["type"] == "error"))["code"] == "not_allowed"
    await asyncio.gather(*(p.close() for p in (host, a, b, again, newcomer)))


async def _online_now_is(client: Any, sid: str, value: int) -> bool:
    return (await attendance(client, sid))["online_now"] == value


async def test_host_page_lists_participants_in_a_group_only(client, sessions):
    """The roster and the remove dialog are on a group's presenter page, in its language."""
    from html.parser import HTMLParser

    class Ids(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.ids: set[str] = set()
            self.text: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.ids.update(value for name, value in attrs if name == "id" and value)

        def handle_data(self, data: str) -> None:
            self.text.append(data.strip())

    group = await sessions.create(mode="group")
    broadcast = await sessions.create(mode="broadcast")
    for created, lang, heading, yes in (
        (group, "fi", "Osallistujat", "Kyllä, poista"),
        (group, "en", "Participants", "Yes, remove"),
    ):
        url = f"/host/{created.session.id}?token={created.host_token}&lang={lang}"
        async with client.get(url) as resp:
            assert resp.status == 200
            page = Ids()
            page.feed(await resp.text())
        assert {"moderation", "roster", "remove-dialog", "moderation-heading"} <= page.ids
        assert heading in page.text and yes in page.text
    async with client.get(f"/host/{broadcast.session.id}?token={broadcast.host_token}") as resp:
        page = Ids()
        page.feed(await resp.text())
    assert "roster" not in page.ids and "remove-dialog" not in page.ids


@pytest.mark.browser
async def test_host_page_mutes_and_removes_a_browser_participant(client, sessions, chromium):
    """The host's buttons (used with the keyboard) mute, then remove; the page stays out."""
    created = await sessions.create(title="Lukupiiri", mode="group")
    sid, base = created.session.id, base_url(client)
    host = await open_page(chromium, f"{base}/host/{sid}?token={created.host_token}")
    await host.get_by_role("button", name="Avaa ryhmä").click()
    await host.wait_for_function("() => window.kohtaamoCall.joinedInfo !== null", timeout=20_000)
    await host.get_by_text("Muita osallistujia ei vielä ole.").wait_for()

    guest = await open_page(chromium, f"{base}/sessions/{sid}")
    sockets: list[str] = []
    guest.on("websocket", lambda ws: sockets.append(ws.url))
    await guest.get_by_role("button", name="Liity").click()
    await guest.get_by_role("button", name="Mikrofoni päälle").click()
    await guest.get_by_role("button", name="Mikrofoni pois").wait_for()
    guest_id = await guest.evaluate("() => window.kohtaamoCall.joinedInfo.participant")

    # The roster entry has its buttons, named after the participant; the keyboard works them.
    mute = host.get_by_role("button", name="Mykistä Osallistuja 1")
    await mute.wait_for(timeout=MEDIA_TIMEOUT_MS)
    item = host.locator(f'.roster-item[data-participant="{guest_id}"]')
    await item.locator(".roster-state", has_text="mikrofoni päällä").wait_for()
    await mute.focus()
    await host.keyboard.press("Enter")
    await guest.wait_for_function(
        "() => document.getElementById('status').textContent.startsWith('Järjestäjä sulki')",
        timeout=20_000,
    )
    assert await guest.evaluate("() => window.kohtaamoCall.muted.audio") is True
    await guest.get_by_role("button", name="Mikrofoni päälle").wait_for()  # says it is off
    await item.locator(".roster-state", has_text="mikrofoni pois, mykistit").wait_for()
    assert await host.evaluate("() => document.activeElement.textContent") == "Mykistä"

    # The participant turns the microphone on again: the host's list follows.
    await guest.get_by_role("button", name="Mikrofoni päälle").click()
    await item.locator(".roster-state", has_text="mikrofoni päällä").wait_for()

    # Remove asks first; cancelling changes nothing.
    remove = host.get_by_role("button", name="Poista Osallistuja 1")
    await remove.focus()
    await host.keyboard.press("Enter")
    dialog = host.locator("#remove-dialog")
    await dialog.get_by_text("Poistetaanko Osallistuja 1 tapahtumasta?").wait_for()
    await host.keyboard.press("Escape")
    assert await dialog.is_hidden()
    assert await guest.evaluate("() => window.kohtaamoCall.stopped") is False
    await remove.click()
    await host.get_by_role("button", name="Kyllä, poista").click()

    await guest.get_by_role("heading", name="Järjestäjä poisti sinut tapahtumasta.").wait_for(
        timeout=20_000
    )
    await host.get_by_text("Muita osallistujia ei vielä ole.").wait_for()
    await poll(lambda: attendance(client, sid), lambda a: a["online_now"] == 0, timeout=20)
    # No reconnect: the call is stopped for good (no timer, no socket) and opened one socket.
    state = await guest.evaluate(
        "() => ({stopped: window.kohtaamoCall.stopped, ws: window.kohtaamoCall.ws})"
    )
    assert state == {"stopped": True, "ws": None}
    assert len(sockets) == 1, page_log(guest)

    # The same window (same attendee key) is refused when it tries again.
    await guest.reload(wait_until="commit")
    await guest.get_by_role("button", name="Liity").click()
    await guest.get_by_role("heading", name="Järjestäjä poisti sinut tapahtumasta.").wait_for(
        timeout=20_000
    )
    assert (await attendance(client, sid))["online_now"] == 0
    for page in (host, guest):
        assert_no_page_errors(page)
