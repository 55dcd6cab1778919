"""Health and metrics: ``GET /healthz`` and ``GET /metrics`` as the city's monitoring uses them.

What was missing (the operations issue): ``/healthz`` answered ``{"status": "ok"}`` whatever
the database did, and there were no metrics at all, so a stalled event loop, an unreachable
database or a broadcast that forwarded nothing looked healthy from outside.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient, make_mocked_request
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import create_async_engine

from stream_server.app import create_app
from stream_server.config import Settings
from stream_server.db.engine import async_url
from stream_server.web.keys import DATABASE, LIVE, LOOP_LAG
from stream_server.web.metrics import is_direct_loopback
from tests.conftest import Sessions, base_url
from tests.peers import Publisher, Viewer, wait_until

TOKEN = "metrics-token-0123456789"


async def scrape(client: TestClient, **headers: str) -> dict[str, float]:
    """``/metrics`` as ``{"name{label=value,…}": value}``; every family checked for the prefix."""
    response = await client.get("/metrics", headers=headers)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(await response.text()):
        assert family.name.startswith("kohtaamo_"), family.name
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


# -- /healthz --------------------------------------------------------------------------------
@pytest.mark.database
async def test_healthz_reports_the_database_and_the_loop(client: TestClient) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert isinstance(body["loop_lag_ms"], int | float) and body["loop_lag_ms"] >= 0
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.database
async def test_healthz_is_503_when_the_database_does_not_answer(
    client: TestClient, settings: Settings
) -> None:
    """A database that cannot be reached makes the server degraded, with the reason and no
    URL or password in it."""
    database = client.app[DATABASE]
    working = database.engine
    missing = async_url(settings.database_url)
    if missing.get_backend_name() == "sqlite":
        missing = missing.set(database="/nonexistent/folder/kohtaamo.sqlite3")
    else:
        missing = missing.set(database="no_such_database", password="s3cret-pw")
    database.engine = create_async_engine(missing)
    try:
        response = await client.get("/healthz")
        body = await response.json()
    finally:
        await database.engine.dispose()
        database.engine = working
    assert response.status == 503
    assert body["status"] == "degraded" and body["database"] == "error"
    assert body["reason"].startswith("database unreachable (")
    assert "s3cret" not in body["reason"] and "no_such_database" not in body["reason"]
    assert (await client.get("/healthz")).status == 200


async def test_a_blocked_event_loop_shows_in_the_lag_and_degrades_health(
    client: TestClient,
) -> None:
    """A step that holds the loop for 1.5 s (a password hash, a report built on the loop)
    delays every peer: the lag monitor sees it, and health says so."""
    await asyncio.sleep(0.3)  # the monitor is sleeping now
    time.sleep(1.5)  # noqa: ASYNC251 (blocks the event loop, on purpose)
    await asyncio.sleep(0.05)
    response = await client.get("/healthz")
    body = await response.json()
    assert body["loop_lag_ms"] >= 1000
    assert response.status == 503
    assert "event loop lag" in body["reason"]
    samples = await scrape(client)
    assert samples["kohtaamo_event_loop_lag_seconds"] >= 1.0


async def test_healthz_is_503_while_the_server_stops(client: TestClient) -> None:
    """During a graceful stop a load balancer must stop sending people here first."""
    client.app[LOOP_LAG].record(0.0)
    client.app[LIVE].closed = True
    response = await client.get("/healthz")
    assert response.status == 503
    assert (await response.json())["reason"] == "shutting down"
    client.app[LIVE].closed = False


# -- /metrics: who may read it -----------------------------------------------------------------
async def test_metrics_answer_loopback_and_name_everything_kohtaamo(client: TestClient) -> None:
    samples = await scrape(client)
    for name in (
        "kohtaamo_live_sessions",
        "kohtaamo_peers{kind=whep}",
        "kohtaamo_peers{kind=whip}",
        "kohtaamo_peers{kind=ws}",
        "kohtaamo_viewers",
        "kohtaamo_recordings_active",
        "kohtaamo_forwarded_packets_total",
        "kohtaamo_forwarded_bytes_total",
        "kohtaamo_forwarded_frames_dropped_total",
        "kohtaamo_keyframe_requests_total",
        "kohtaamo_event_loop_lag_seconds",
        "kohtaamo_database_write_seconds_count",
    ):
        assert name in samples, name


async def test_metrics_through_a_proxy_need_the_token(settings: Settings, aiohttp_client: Any):
    """A reverse proxy connects from loopback: its X-Forwarded-For makes the request remote."""
    plain = await aiohttp_client(create_app(settings))
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    refused = await plain.get("/metrics", headers=forwarded)
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "metrics_forbidden"
    with_token = await aiohttp_client(create_app(settings.replace(metrics_token=TOKEN)))
    missing = await with_token.get("/metrics", headers={"Forwarded": "for=203.0.113.9"})
    assert missing.status == 401
    wrong = await with_token.get(
        "/metrics", headers={**forwarded, "Authorization": "Bearer wrong-token-0123456789"}
    )
    assert wrong.status == 403
    await scrape(with_token, **forwarded, Authorization=f"Bearer {TOKEN}")


@pytest.mark.parametrize(
    ("peer", "headers", "loopback"),
    [
        (("127.0.0.1", 5000), {}, True),
        (("::1", 5000, 0, 0), {}, True),
        (("::ffff:127.0.0.1", 5000, 0, 0), {}, True),
        (("192.0.2.10", 5000), {}, False),
        (("127.0.0.1", 5000), {"X-Forwarded-For": "127.0.0.1"}, False),
        (("127.0.0.1", 5000), {"X-Real-IP": "127.0.0.1"}, False),
        ("", {}, False),  # a Unix socket (a proxy's)
    ],
)
def test_only_direct_loopback_connections_count_as_local(
    peer: Any, headers: dict[str, str], loopback: bool
) -> None:
    class Transport:
        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return peer if name == "peername" else default

        def is_closing(self) -> bool:
            return False

    request = make_mocked_request("GET", "/metrics", headers=headers, transport=Transport())
    assert is_direct_loopback(request) is loopback


# -- /metrics: what it counts -------------------------------------------------------------------
async def test_forwarding_counters_follow_a_broadcast_and_never_go_down(
    client: TestClient, sessions: Sessions
) -> None:
    """Bytes and packets forwarded, peers by kind and viewers come from the live registry at
    scrape time; a viewer that leaves keeps its bytes in the total."""
    created = await sessions.create()
    base = base_url(client)
    publisher = Publisher()
    viewer = Viewer()
    try:
        published = await publisher.publish(
            client.session, base, created.session.id, created.publish_token
        )
        assert published.status == 201
        assert (await viewer.play(client.session, base, created.session.id)).status == 201
        await viewer.wait_for(lambda: viewer.video_frames >= 10 and viewer.audio_frames >= 10)
        during = await scrape(client)
        assert during["kohtaamo_live_sessions"] == 1
        assert during["kohtaamo_peers{kind=whip}"] == 1
        assert during["kohtaamo_peers{kind=whep}"] == 1
        assert during["kohtaamo_viewers"] == 1
        assert during["kohtaamo_forwarded_packets_total"] >= 20
        assert during["kohtaamo_forwarded_bytes_total"] > during["kohtaamo_forwarded_packets_total"]
        assert during["kohtaamo_keyframe_requests_total"] >= 1  # the viewer started on one
        assert during["kohtaamo_database_write_seconds_count"] >= 2  # two joins written
        await viewer.close()
        live = client.app[LIVE]
        await wait_until(lambda: not any(c.kind == "whep" for c in live.clients()), timeout=40)
        after = await scrape(client)
        assert after["kohtaamo_peers{kind=whep}"] == 0 and after["kohtaamo_viewers"] == 0
        for name in ("kohtaamo_forwarded_packets_total", "kohtaamo_forwarded_bytes_total"):
            assert after[name] >= during[name], name
    finally:
        await viewer.close()
        await publisher.close()


async def test_http_errors_are_counted_by_status_and_code(client: TestClient) -> None:
    for _ in range(2):
        assert (await client.get("/api/sessions/no-such-session")).status == 404
    assert (await client.get("/no/such/page")).status == 404
    samples = await scrape(client)
    assert samples["kohtaamo_http_errors_total{code=unknown_session,status=404}"] == 2
    assert samples["kohtaamo_http_errors_total{code=not_found,status=404}"] == 1


async def test_protocol_errors_are_counted_by_code(client: TestClient) -> None:
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("this is not JSON")
        reply = await ws.receive()
        assert reply.type == WSMsgType.TEXT
        code = reply.json()["code"]
        await ws.send_json({"type": "ping"})
        second = await ws.receive()
        assert second.json()["code"] == "not_joined"
    samples = await scrape(client)
    assert samples[f"kohtaamo_protocol_errors_total{{code={code}}}"] == 1
    assert samples["kohtaamo_protocol_errors_total{code=not_joined}"] == 1
