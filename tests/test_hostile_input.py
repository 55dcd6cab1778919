"""Hostile input: every malformed body, message, header and path is a 4xx with a code.

A probe of every route found 258 tracebacks (500s) from seven causes, all reachable without a
login: JSON nested 8,000 deep, numbers of more than 4,300 digits, a lone ``\\ud800``, form
bodies that are not UTF-8 or lack a multipart boundary, ``²`` typed as a population, and a
deeply nested WebSocket message (which also killed the connection). It also found a forged
log line (``/static/x%0a…``), an open redirect after login (``next=/%09/evil.example``), a
``Secure`` cookie flag decided by the ``Host`` header, JSON and static answers without
``nosniff``, and a WebSocket that any site's page could open.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp import WSServerHandshakeError
from aiohttp.test_utils import TestClient

from stream_server import strict_json
from stream_server.app import create_app
from stream_server.config import Settings
from stream_server.log_safety import SafeFormatter
from stream_server.web.auth import STAFF_COOKIE
from stream_server.web.staff_auth import safe_next
from tests.conftest import Sessions, Staff, base_url
from tests.ws_peer import WsParticipant

KEY = "k" * 24

#: JSON that Python's json module accepts or chokes on, each refused with 400 invalid_json.
HOSTILE_JSON = {
    "nested 8000 deep": "[" * 8000 + "]" * 8000,
    "nested objects": '{"a":' * 2500 + "1" + "}" * 2500,
    "a 5000-digit number": '{"score": ' + "9" * 5000 + "}",
    "a 5000-digit float": '{"score": 1.' + "5" * 5000 + "}",
    "a lone surrogate": '{"score": 3, "attendee_key": "\\ud800' + "k" * 20 + '"}',
    "a lone surrogate key": '{"\\udfff": 1}',
    "NaN": '{"score": NaN}',
    "Infinity": '{"score": -Infinity}',
    "1e999": '{"score": 1e999}',
    "not UTF-8": b'{"score": "\xff\xfe"}',
}


def _no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]


@pytest.mark.parametrize("name", list(HOSTILE_JSON))
async def test_hostile_json_is_refused_by_the_decoder(name: str) -> None:
    with pytest.raises(strict_json.JsonRefused):
        strict_json.loads(HOSTILE_JSON[name])


def test_ordinary_json_still_decodes() -> None:
    assert strict_json.loads(b'{"a": [1, -2.5, "\\u00e4", {"b": null}], "c": true}') == {
        "a": [1, -2.5, "ä", {"b": None}],
        "c": True,
    }
    # Brackets inside strings are text, not nesting.
    assert strict_json.loads('{"t": "' + "[" * 100 + '"}') == {"t": "[" * 100}


@pytest.mark.parametrize("name", list(HOSTILE_JSON))
async def test_hostile_json_bodies_are_400_without_a_login(
    client: TestClient, sessions: Sessions, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    """The survey endpoint needs no login: each of these was a 500 with a traceback."""
    created = await sessions.create()
    body = HOSTILE_JSON[name]
    response = await client.post(
        f"/api/sessions/{created.session.id}/survey",
        data=body if isinstance(body, bytes) else body.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 400, await response.text()
    assert (await response.json())["error"]["code"] == "invalid_json"
    _no_tracebacks(caplog)


async def test_hostile_json_to_staff_and_device_routes(
    client: TestClient, sessions: Sessions, staff: Staff, caplog: pytest.LogCaptureFixture
) -> None:
    token = await staff.api_token(await staff.add())
    created = await sessions.create()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    for path, method in (
        (f"/api/sessions/{created.session.id}/headcount", "POST"),
        ("/api/areas/north", "PUT"),
    ):
        for body in HOSTILE_JSON.values():
            data = body if isinstance(body, bytes) else body.encode()
            response = await client.request(method, path, data=data, headers=headers)
            assert response.status == 400, (path, await response.text())
    _no_tracebacks(caplog)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"name=\xff\xfe&password=x", "application/x-www-form-urlencoded"),
        (b"name=anna&password=x", "multipart/form-data"),  # no boundary
        (b"--b\r\nnonsense\r\n--b--\r\n", "multipart/form-data; boundary=b"),
        (b"name=anna", "application/x-www-form-urlencoded; charset=no-such-charset"),
        (
            b'--b\r\nContent-Disposition: form-data; name="name"\r\n'
            b"Content-Type: text/plain; charset=utf-8\r\n\r\n\xff\xfe\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
        ),
    ],
)
async def test_unreadable_login_forms_are_400(
    client: TestClient, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str
) -> None:
    """The login form is open to anyone: a form aiohttp cannot parse was a 500."""
    response = await client.post("/staff/login", data=body, headers={"Content-Type": content_type})
    assert response.status == 400, await response.text()
    assert (await response.json())["error"]["code"] == "invalid_form"
    _no_tracebacks(caplog)


@pytest.mark.parametrize("typed", ["²", "٣٤", "1" * 5000, "-5", "12 000 000"])
async def test_a_population_that_is_not_ascii_digits_is_a_form_error(
    client: TestClient,
    sessions: Sessions,
    staff: Staff,
    caplog: pytest.LogCaptureFixture,
    typed: str,
) -> None:
    """``"²".isdigit()`` is True but ``int("²")`` raises: the areas form answered 500."""
    await sessions.create()  # the reference data: areas
    csrf = await staff.login()
    response = await client.post(
        "/staff/areas",
        data={"csrf_token": csrf, "population-north": typed},
        allow_redirects=False,
    )
    assert response.status == 400
    _no_tracebacks(caplog)


async def test_revoking_a_device_id_too_large_for_the_database_is_404(
    client: TestClient, staff: Staff, caplog: pytest.LogCaptureFixture
) -> None:
    csrf = await staff.login()
    for device_id in ("9" * 5000, "99999999999999999999", "٣"):
        for action in ("revoke", "restore"):
            response = await client.post(
                f"/staff/devices/{device_id}/{action}", data={"csrf_token": csrf}
            )
            assert response.status == 404
        assert (await client.get(f"/staff/devices/{device_id}/revoke")).status == 404
    _no_tracebacks(caplog)


async def test_a_deeply_nested_websocket_message_is_an_error_not_a_dead_socket(
    client: TestClient, sessions: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    created = await sessions.create()
    person = WsParticipant(client.session, base_url(client))
    await person.connect()
    for raw in ("[" * 8000 + "]" * 8000, '{"type": "ping", "n": ' + "1" * 5000 + "}"):
        await person.send(raw)
        error = await person.next_message(lambda m: m.get("type") == "error")
        assert error["code"] == "invalid_json"
    # The connection survived: it still joins.
    assert (await person.join(session=created.session.id))["type"] == "joined"
    await person.close()
    _no_tracebacks(caplog)


# -- the log ----------------------------------------------------------------------------------
def test_the_formatter_writes_one_line_per_record_whatever_the_values() -> None:
    formatter = SafeFormatter("%(levelname)s %(message)s")
    forged = "x\n2026-01-01 00:00:00 INFO staff: admin logged in\r\x00\x1b[2J\u2028"
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "GET %s %d", (forged, 404), None)
    text = formatter.format(record)
    assert "\n" not in text and "\r" not in text and "\x00" not in text and "\x1b" not in text
    assert "\u2028" not in text
    assert text == (
        "INFO GET x\\n2026-01-01 00:00:00 INFO staff: admin logged in\\r\\x00\\x1b[2J\\u2028 404"
    )


async def test_a_newline_in_a_path_does_not_forge_a_log_line(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """``/static/x%0a…`` wrote a line of the attacker's choosing into the log."""
    caplog.set_level(logging.DEBUG)
    await client.get("/static/x%0a2026-01-01%20CRITICAL%20forged%0d%00")
    await client.get("/api/sessions/x%0aforged/attendance")
    formatter = SafeFormatter("%(message)s")
    for record in caplog.records:
        line = formatter.format(record)
        assert "\n" not in line and "\r" not in line and "\x00" not in line


# -- redirects, cookies, headers ------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        "/\t/evil.example",
        "/\n/evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https://evil.example/",
        "/ /evil.example",
        "/\x00/evil.example",
        "evil.example",
        "",
        None,
    ],
)
def test_login_redirects_only_to_same_origin_paths(value: str | None) -> None:
    assert safe_next(value) == "/staff"


def test_same_origin_paths_are_kept() -> None:
    assert safe_next("/staff/reports?from=2026-01-01&lang=en") == (
        "/staff/reports?from=2026-01-01&lang=en"
    )
    assert safe_next("/%09/x") == "/%09/x"  # an escaped tab is a path, not a host
    assert safe_next("/ä") == "/%C3%A4"


async def test_the_login_form_does_not_redirect_off_site(client: TestClient, staff: Staff) -> None:
    """``/staff/login?next=/%09/evil.example`` answered ``Location: //evil.example``."""
    await staff.login()
    response = await client.get("/staff/login?next=/%09/evil.example", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/staff"


async def _login_cookie(client: TestClient, staff: Staff, host: str) -> Any:
    await staff.add()
    response = await client.post(
        "/staff/login",
        data={"name": "anna", "password": Staff.PASSWORD},
        headers={"Host": host},
        allow_redirects=False,
    )
    assert response.status == 303
    return response.cookies[STAFF_COOKIE]


@pytest.mark.parametrize(
    ("public_url", "host", "secure"),
    [
        ("https://kohtaamo.example.fi", "127.0.0.1", True),  # nginx forwards to loopback
        ("", "localhost", True),  # unset: Secure, whatever the Host says
        ("http://127.0.0.1", "kohtaamo.example.fi", False),  # a developer's machine
    ],
)
async def test_the_secure_flag_comes_from_configuration_not_the_host_header(
    aiohttp_client: Any, settings: Settings, public_url: str, host: str, secure: bool
) -> None:
    client = await aiohttp_client(create_app(settings.replace(public_url=public_url)))
    cookie = await _login_cookie(client, Staff(client), host)
    assert bool(cookie["secure"]) is secure


async def test_json_static_and_error_answers_say_nosniff(
    client: TestClient, sessions: Sessions
) -> None:
    created = await sessions.create()
    for path in (
        "/api/sessions",
        f"/api/sessions/{created.session.id}",
        "/static/kohtaamo.css",
        "/static/no-such-file.js",
        "/api/sessions/none",
        "/healthz",
    ):
        response = await client.get(path)
        assert response.headers.get("X-Content-Type-Options") == "nosniff", path


# -- the WebSocket's origin ---------------------------------------------------------------------
async def test_a_websocket_from_another_sites_page_is_refused(client: TestClient) -> None:
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.session.ws_connect(
            base_url(client) + "/ws", headers={"Origin": "https://evil.example"}
        )
    assert refused.value.status == 403
    for origin in ("null", "http://127.0.0.1.evil.example", "file://"):
        with pytest.raises(WSServerHandshakeError):
            await client.session.ws_connect(base_url(client) + "/ws", headers={"Origin": origin})


async def test_a_websocket_from_the_servers_own_pages_is_accepted(
    aiohttp_client: Any, settings: Settings
) -> None:
    client = await aiohttp_client(
        create_app(settings.replace(public_url="https://kohtaamo.example.fi"))
    )
    own = base_url(client)  # the request's own host
    for origin in (own, "https://kohtaamo.example.fi", "HTTPS://Kohtaamo.Example.FI"):
        ws = await client.session.ws_connect(own + "/ws", headers={"Origin": origin})
        await ws.send_json({"type": "ping"})
        assert (await ws.receive_json())["code"] == "not_joined"
        await ws.close()
    # No Origin at all: not a browser (the room agent, scripts).
    ws = await client.session.ws_connect(own + "/ws")
    await ws.close()
