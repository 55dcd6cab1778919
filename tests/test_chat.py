"""Session chat: over the real WebSocket, in memory only, moderated by the host (and a browser)."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from stream_server.signaling.protocol import CHAT_MAX_CHARS, clean_chat_text
from stream_server.web.keys import LIVE
from tests import browser as browser_helpers
from tests.browser import assert_no_page_errors, open_page, poll
from tests.conftest import base_url
from tests.test_pages import get_page
from tests.ws_peer import WsParticipant

chromium = browser_helpers.chromium  # the fixture, by the name the browser test asks for


def chats(peer: WsParticipant) -> list[dict[str, Any]]:
    return [m for m in peer.messages if m["type"] == "chat"]


def history(peer: WsParticipant) -> list[dict[str, Any]]:
    """The ``chat-history`` of the peer's latest join."""
    found = [m for m in peer.messages if m["type"] == "chat-history"]
    assert found, f"no chat-history; got {[m['type'] for m in peer.messages]}"
    return list(found[-1]["messages"])


async def received(peer: WsParticipant, predicate: Any) -> dict[str, Any]:
    """A message the peer has got, now or before (unlike ``next_message``)."""
    found: list[dict[str, Any]] = []

    def check() -> bool:
        found[:] = [m for m in peer.messages if predicate(m)]
        return bool(found)

    await peer.wait_for(check)
    return found[0]


async def say(peer: WsParticipant, text: str) -> dict[str, Any]:
    """Send a chat line and wait until it comes back (the sender gets it too)."""
    await peer.send({"type": "chat", "text": text})
    return await peer.next_message(
        lambda m: (
            (m["type"] == "chat" and m["from"]["participant"] == peer.id) or (m["type"] == "error")
        )
    )


async def error_for(peer: WsParticipant, message: dict[str, Any]) -> dict[str, Any]:
    await peer.send(message)
    return await peer.next_message(lambda m: m["type"] == "error")


async def joined(client: Any, **fields: Any) -> WsParticipant:
    peer = WsParticipant(client.session, base_url(client))
    reply = await peer.join(**fields)
    assert reply["type"] == "joined", reply
    return peer


async def _group(client: Any, sessions: Any) -> tuple[str, WsParticipant, WsParticipant, Any]:
    created = await sessions.create(mode="group")
    sid = created.session.id
    host = await joined(
        client, session=sid, role="host", token=created.host_token, channel="presenter"
    )
    a = await joined(client, session=sid)
    return sid, host, a, created


async def test_a_message_reaches_everyone_in_the_session_and_nobody_else(client, sessions, devices):
    created = await sessions.create(mode="group", venue="puijonlaakso/ryhmatila")
    sid = created.session.id
    host = await joined(
        client, session=sid, role="host", token=created.host_token, channel="presenter"
    )
    a = await joined(client, session=sid)
    b = await joined(client, session=sid, channel="tablet")
    # A room screen receives chat too (its page does not show it).
    kiosk = await joined(
        client,
        session=sid,
        channel="kiosk",
        device_token=await devices.add("puijonlaakso", "kiosk", "ryhmatila"),
    )
    other = await joined(client, session=(await sessions.create(mode="group")).session.id)
    assert history(a) == [] and history(other) == []

    sent = await say(a, "  Hyvää iltaa kaikille!  ")
    assert sent["text"] == "Hyvää iltaa kaikille!"
    assert sent["from"] == {"participant": a.id, "role": "participant"}
    assert isinstance(sent["id"], int)
    at = dt.datetime.fromisoformat(sent["at"])
    assert abs((dt.datetime.now(dt.UTC) - at).total_seconds()) < 60
    for peer in (host, b, kiosk):
        got = await received(peer, lambda m: m["type"] == "chat" and m["id"] == sent["id"])
        assert got == sent

    reply = await say(host, "Tervetuloa.")
    assert reply["from"] == {"participant": host.id, "role": "host"}
    assert reply["id"] > sent["id"]
    await received(a, lambda m: m["type"] == "chat" and m["id"] == reply["id"])
    # The other session's chat is its own: its member sees only its own line.
    own = await say(other, "Toinen tapahtuma")
    assert own["type"] == "chat"
    assert [m["text"] for m in chats(other)] == ["Toinen tapahtuma"]
    assert "Toinen tapahtuma" not in [m["text"] for m in chats(a)]
    for peer in (host, a, b, kiosk, other):
        await peer.close()


async def test_a_broadcast_viewer_can_ask_the_host(client, sessions):
    created = await sessions.create(mode="broadcast")
    sid = created.session.id
    host = await joined(
        client, session=sid, role="host", token=created.host_token, channel="presenter"
    )
    viewer = await joined(client, session=sid, tier="audio")
    question = await say(viewer, "Voitko toistaa viimeisen dian?")
    got = await received(host, lambda m: m["type"] == "chat")
    assert got == question and got["from"]["role"] == "participant"
    for peer in (host, viewer):
        await peer.close()


async def test_a_late_joiner_gets_the_backlog_of_the_last_50(client, sessions):
    sid, host, a, _ = await _group(client, sessions)
    room = client.app[LIVE].get(sid).chat
    for n in range(53):  # past the backlog, without waiting out the rate limit of one sender
        room.post(a.id, "participant", f"viesti {n}")
    late = await joined(client, session=sid)
    backlog = history(late)
    assert [m["text"] for m in backlog] == [f"viesti {n}" for n in range(3, 53)]
    assert backlog[0]["from"] == {"participant": a.id, "role": "participant"}
    # The backlog comes right after joined, before anything else of this session.
    types = [m["type"] for m in late.messages]
    assert types.index("chat-history") == types.index("joined") + 1
    for peer in (host, a, late):
        await peer.close()


def test_cleaning_chat_text():
    assert clean_chat_text("  hei\tsinä\r\nkuka\u2028olet  ") == "hei sinä  kuka olet"
    assert clean_chat_text("a\x00b\x07c\x1b[31md\x7f") == "abc[31md"
    assert clean_chat_text("\u202eolleh\u202c \u2066x\u2069") == "olleh x"
    # Letters, emoji (with their joiners) and accents stay as they are.
    assert clean_chat_text("Äiti 👩‍👧 café") == "Äiti 👩‍👧 café"


async def test_invalid_chat_messages_are_refused_and_the_connection_carries_on(client, sessions):
    _, host, a, _ = await _group(client, sessions)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"type": "chat"}, "chat: 'text' is required"),
        ({"type": "chat", "text": 5}, "chat: 'text' must be a str"),
        ({"type": "chat", "text": ""}, "chat: 'text' is empty"),
        ({"type": "chat", "text": " \n\t\x00 "}, "chat: 'text' is empty"),
        (
            {"type": "chat", "text": "x" * (CHAT_MAX_CHARS + 1)},
            "chat: 'text' is longer than 500 characters",
        ),
        ({"type": "chat-delete"}, "chat-delete: 'id' is required"),
        ({"type": "chat-delete", "id": "1"}, "chat-delete: 'id' must be a int"),
    ]
    for message, text in cases:
        error = await error_for(a, message)
        assert (error["code"], error["message"]) == ("invalid_message", text)
        assert error["ref"] == message["type"]
    # 500 characters after trimming is fine, and control characters are gone.
    longest = await say(a, "  " + "ö" * CHAT_MAX_CHARS + "  ")
    assert longest["text"] == "ö" * CHAT_MAX_CHARS
    cleaned = await say(a, "rivi\nrivi\x1b[2J\x00")
    assert cleaned["text"] == "rivi rivi[2J"
    assert not [m for m in chats(host) if m["type"] != "chat"]
    await received(host, lambda m: m["type"] == "chat" and m["id"] == cleaned["id"])
    assert [m["text"] for m in chats(host)] == ["ö" * CHAT_MAX_CHARS, "rivi rivi[2J"]
    for peer in (host, a):
        await peer.close()


async def test_too_many_messages_are_refused_without_disconnecting(client, sessions):
    sid, host, a, _ = await _group(client, sessions)
    for n in range(8):  # sent back to back: a burst of 5 is allowed, then one per 2 s
        await a.send({"type": "chat", "text": f"spam {n}"})
    await a.send({"type": "ping"})
    await a.next_message(lambda m: m["type"] == "pong")
    refused = [m for m in a.messages if m["type"] == "error"]
    accepted = chats(a)
    assert len(accepted) + len(refused) == 8
    assert len(accepted) >= 5 and refused  # more than 5 only on a very slow machine
    assert {(m["code"], m["ref"]) for m in refused} == {("rate_limited", "chat")}
    # Still connected and still in the session: the host gets the accepted ones, and the
    # sender can chat again once its bucket has refilled (one message per 2 s).
    await host.wait_for(lambda: len(chats(host)) == len(accepted))
    await poll(lambda: say(a, "taas"), lambda m: m["type"] == "chat", timeout=10)
    emptied = time.monotonic()
    # A new connection with the same attendee key does not get a fresh allowance of 5.
    reconnect = WsParticipant(client.session, base_url(client))
    reconnect.attendee_key = a.attendee_key
    assert (await reconnect.join(session=sid))["type"] == "joined"
    for n in range(5):
        await reconnect.send({"type": "chat", "text": f"uusi yhteys {n}"})
    await reconnect.send({"type": "ping"})
    await reconnect.next_message(lambda m: m["type"] == "pong")
    elapsed = time.monotonic() - emptied
    refills = int(elapsed * 0.5) + 1
    assert len(chats(reconnect)) <= refills < 5, (elapsed, reconnect.messages)
    for peer in (host, a, reconnect):
        await peer.close()


async def test_the_host_deletes_a_message_for_everyone(client, sessions):
    sid, host, a, _ = await _group(client, sessions)
    b = await joined(client, session=sid)
    bad = await say(a, "Sopimaton viesti")
    good = await say(b, "Asiallinen viesti")
    await received(host, lambda m: m["type"] == "chat" and m["id"] == good["id"])

    # Only the host may delete: a participant (even the sender) is refused, nothing changes.
    for peer in (a, b):
        error = await error_for(peer, {"type": "chat-delete", "id": bad["id"]})
        assert (error["code"], error["ref"]) == ("not_host", "chat-delete")
    error = await error_for(host, {"type": "chat-delete", "id": 9999})
    assert (error["code"], error["ref"]) == ("unknown_message", "chat-delete")
    assert not any(m["type"] == "chat-deleted" for p in (host, a, b) for m in p.messages)

    await host.send({"type": "chat-delete", "id": bad["id"]})
    for peer in (host, a, b):
        deleted = await received(peer, lambda m: m["type"] == "chat-deleted")
        assert deleted == {"type": "chat-deleted", "id": bad["id"]}
    error = await error_for(host, {"type": "chat-delete", "id": bad["id"]})
    assert error["code"] == "unknown_message"  # already gone
    late = await joined(client, session=sid)
    assert [m["text"] for m in history(late)] == ["Asiallinen viesti"]
    for peer in (host, a, b, late):
        await peer.close()


async def test_a_deployment_can_turn_chat_off(aiohttp_client, settings):
    from stream_server.app import create_app
    from stream_server.web.keys import DATABASE
    from tests.conftest import Sessions

    client = await aiohttp_client(create_app(settings.replace(chat_enabled=False)))
    created = await Sessions(client.app[DATABASE]).create(mode="group")
    sid = created.session.id
    host = await joined(
        client, session=sid, role="host", token=created.host_token, channel="presenter"
    )
    a = await joined(client, session=sid)
    error = await error_for(a, {"type": "chat", "text": "Hei"})
    assert (error["code"], error["ref"]) == ("chat_disabled", "chat")
    error = await error_for(host, {"type": "chat-delete", "id": 1})
    assert error["code"] == "chat_disabled"
    # No chat-history, so the pages never show the chat panel (it is hidden in the HTML).
    assert not any(m["type"].startswith("chat") for p in (host, a) for m in p.messages)
    _, doc, _ = await get_page(client, f"/sessions/{sid}")
    assert "hidden" in doc.by_id("chat").attrs  # shown by chat.js only after chat-history
    for peer in (host, a):
        await peer.close()


async def test_the_chat_panel_is_labelled_for_assistive_technology(client, sessions):
    created = await sessions.create(mode="group")
    for url in (
        f"/sessions/{created.session.id}",
        f"/host/{created.session.id}?token={created.host_token}",
    ):
        _, doc, _ = await get_page(client, url)
        log = doc.by_id("chat-log")
        assert log.attrs["role"] == "log" and log.attrs["aria-live"] == "polite"
        assert doc.by_id("chat-heading").text() == "Keskustelu"
        field = doc.by_id("chat-input")
        assert field.attrs["maxlength"] == "500"
        label = doc.find("label", **{"for": "chat-input"})
        assert label.text() == "Kirjoita viesti"
        assert doc.by_id("chat-send").text() == "Lähetä"
    _, doc, _ = await get_page(client, f"/sessions/{created.session.id}?lang=en")
    assert doc.by_id("chat-heading").text() == "Chat"
    assert doc.by_id("chat-send").text() == "Send"


def _database_files(settings: Any) -> list[Path]:
    path = Path(settings.database_url.split("///", 1)[1])
    return sorted(path.parent.glob(path.name + "*"))  # the file, and any -wal / -journal


async def test_nothing_of_the_chat_reaches_the_database_or_the_log(
    client, sessions, settings, caplog
):
    caplog.set_level(logging.DEBUG)
    marker = "Salainen-chat-viesti-7f3a9c"
    sid, host, a, _ = await _group(client, sessions)
    sent = await say(a, marker)
    await host.send({"type": "chat-delete", "id": sent["id"]})
    await received(a, lambda m: m["type"] == "chat-deleted")
    await say(host, marker + "-isäntä")
    for peer in (host, a):
        await peer.send({"type": "leave"})
        await peer.close()
    live = client.app[LIVE]
    await poll(lambda: _noop(live.get(sid)), lambda room: room is None, timeout=20)

    files = _database_files(settings)
    assert files, "the test database was not found"
    for path in files:
        assert marker.encode() not in path.read_bytes(), path
        assert marker.encode("utf-16-le") not in path.read_bytes(), path
    with contextlib.closing(sqlite3.connect(files[0])) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master")]
    assert not [name for name in tables if "chat" in name.lower()], tables
    assert marker not in caplog.text


async def _noop(value: Any) -> Any:
    return value


async def test_the_backlog_is_dropped_when_the_room_empties(client, sessions):
    sid, host, a, created = await _group(client, sessions)
    await say(a, "Ennen tyhjenemistä")
    late = await joined(client, session=sid)
    assert [m["text"] for m in history(late)] == ["Ennen tyhjenemistä"]
    live = client.app[LIVE]
    for peer in (host, a):
        await peer.send({"type": "leave"})
    await late.close()  # the last one just goes away
    await poll(lambda: _noop(live.get(sid)), lambda held: held is None, timeout=20)
    assert live.get(sid) is None
    again = await joined(client, session=sid)
    assert history(again) == []
    # Ending the session also forgets it at once.
    host2 = await joined(
        client, session=sid, role="host", token=created.host_token, channel="presenter"
    )
    await say(host2, "Loppusanat")
    assert live.get(sid) is not None and live.get(sid).chat.history()
    await host2.send({"type": "end"})
    await received(again, lambda m: m["type"] == "ended")
    assert live.get(sid) is None
    for peer in (host, a, late, again, host2):
        await peer.close()


@pytest.mark.browser
async def test_two_join_pages_chat_by_keyboard_and_the_host_deletes(client, sessions, chromium):
    created = await sessions.create(title="Lukupiiri", mode="group")
    sid, base = created.session.id, base_url(client)
    host = await open_page(chromium, f"{base}/host/{sid}?token={created.host_token}")
    await host.get_by_role("button", name="Avaa ryhmä").click()
    await host.get_by_role("log").wait_for(state="attached")
    await host.locator("#chat").wait_for(state="visible", timeout=20_000)

    pages = []
    for _ in range(2):
        page = await open_page(chromium, f"{base}/sessions/{sid}")
        await page.get_by_role("button", name="Liity").click()
        await page.locator("#chat").wait_for(state="visible", timeout=20_000)
        pages.append(page)
    first, second = pages

    # The first participant writes with the keyboard only: Tab to the field, type, Enter.
    field = first.get_by_label("Kirjoita viesti")
    await field.focus()
    await first.keyboard.type("Hei kaikki, kuuluuko?")
    await first.keyboard.press("Enter")
    log = second.get_by_role("log", name="Keskustelu")
    await log.get_by_text("Hei kaikki, kuuluuko?").wait_for(timeout=20_000)
    entry = log.locator(".chat-message", has_text="Hei kaikki")
    assert (await entry.locator(".chat-from").inner_text()) == "Osallistuja 1"
    # The sender's field is emptied once the server has it; its own line says "Sinä".
    await first.wait_for_function("() => document.getElementById('chat-input').value === ''")
    own = first.get_by_role("log").locator(".chat-message", has_text="Hei kaikki")
    assert (await own.locator(".chat-from").inner_text()) == "Sinä"
    assert "0 merkkiä, enintään 500" in await first.locator("#chat-counter").inner_text()

    await second.get_by_label("Kirjoita viesti").focus()
    await second.keyboard.type("Kuuluu hyvin")
    await second.keyboard.press("Enter")
    await first.get_by_role("log").get_by_text("Kuuluu hyvin").wait_for(timeout=20_000)
    host_log = host.get_by_role("log")
    await host_log.get_by_text("Kuuluu hyvin").wait_for(timeout=20_000)

    # The host deletes the first message with the keyboard; the button names what it deletes.
    delete = host.get_by_role("button", name="Poista viesti: Osallistuja 1: Hei kaikki, kuuluuko?")
    await delete.focus()
    await host.keyboard.press("Enter")
    for page in (first, second, host):
        await (
            page.get_by_role("log")
            .get_by_text("Hei kaikki")
            .wait_for(state="detached", timeout=20_000)
        )
        await page.get_by_role("log").get_by_text("Kuuluu hyvin").wait_for()
    await host.wait_for_function(
        "() => document.getElementById('status').textContent === 'Viesti poistettiin.'"
    )
    # Focus does not fall off the page with the deleted message.
    assert await host.evaluate("() => document.activeElement.id") == "chat-input"
    for page in (first, second, host):
        assert_no_page_errors(page)
