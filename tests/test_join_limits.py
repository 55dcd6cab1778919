"""Caps and throttles on joining: per server, per client address, and on guessed codes.

The probe opened 40 WHEP viewers from one address in 0.4 s (file descriptors 31 → 110, held
for a minute), and tried 262 random ``/j/{code}`` pages and 3,687 guessed WHEP codes a second
without a limit. Now: ``max_peers`` (503 ``server_busy``), ``max_peers_per_address`` (429),
a join rate per address, and a limit on wrong join codes per address (429 ``rate_limited``
with ``Retry-After``). Addresses come from ``client_address`` (``trusted_proxies``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from stream_server.app import create_app
from stream_server.config import Settings
from stream_server.live.limits import (
    AddressBuckets,
    JoinLimits,
    PeerBudget,
    peers_the_file_limit_holds,
)
from stream_server.live.registry import LiveRegistry
from stream_server.web.keys import DATABASE, LIVE
from tests.conftest import Sessions, base_url
from tests.peers import Viewer, post_sdp, wait_until
from tests.ws_peer import WsParticipant


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the pure parts -------------------------------------------------------------------------
def test_a_bucket_allows_a_burst_then_the_rate() -> None:
    clock = Clock()
    bucket = AddressBuckets(per_minute=60, burst=3, clock=clock)
    assert [bucket.take("a") for _ in range(3)] == [0, 0, 0]
    assert bucket.take("a") == pytest.approx(1.0)  # one a second
    assert bucket.take("b") == 0  # another address has its own bucket
    clock.now += 1.0
    assert bucket.take("a") == 0 and bucket.take("a") > 0
    assert bucket.wait("a") == pytest.approx(1.0)
    clock.now += 10
    assert bucket.wait("a") == 0


def test_full_buckets_are_forgotten_and_memory_is_bounded() -> None:
    clock = Clock()
    bucket = AddressBuckets(per_minute=60, burst=2, clock=clock, max_addresses=100)
    for n in range(100):
        bucket.take(f"10.0.0.{n}")
    clock.now += 5  # every bucket is full again
    bucket.take("192.0.2.1")
    assert len(bucket) == 1
    for n in range(500):  # a flood of new addresses never holds more than the bound
        bucket.take(f"10.1.{n // 256}.{n % 256}")
        assert len(bucket) <= 100


def test_zero_means_no_limit() -> None:
    bucket = AddressBuckets(per_minute=0, burst=1)
    assert all(bucket.take("a") == 0 for _ in range(1000))
    budget = PeerBudget(max_peers=0, per_address=0)
    releases = [budget.acquire("a") for _ in range(1000)]
    assert budget.total == 1000
    for release in releases:
        release()
        release()  # idempotent
    assert budget.total == 0 and budget.held_by("a") == 0


def test_the_peer_budget_caps_the_server_and_each_address() -> None:
    budget = PeerBudget(max_peers=3, per_address=2)
    first = budget.acquire("a")
    budget.acquire("a")
    with pytest.raises(Exception) as per_address:
        budget.acquire("a")
    assert getattr(per_address.value, "code", None) == "rate_limited"
    assert getattr(per_address.value, "retry_after", 0) >= 1
    budget.acquire("b")
    with pytest.raises(Exception) as server:
        budget.acquire("c")
    assert getattr(server.value, "code", None) == "server_busy"
    assert getattr(server.value, "status", None) == 503
    first()
    budget.acquire("c")


def test_wrong_codes_lock_out_an_address_before_the_lookup() -> None:
    clock = Clock()
    limits = JoinLimits(
        max_peers=0,
        max_peers_per_address=20,
        joins_per_minute=0,
        code_failures_per_minute=3,
        clock=clock,
    )
    for _ in range(3):
        limits.check_codes("a")
        limits.code_failed("a")
    with pytest.raises(Exception) as refused:
        limits.join("a")
    assert getattr(refused.value, "code", None) == "rate_limited"
    limits.join("b")
    clock.now += 20  # 3 a minute: one more after 20 s
    limits.join("a")


def test_max_peers_defaults_to_what_the_file_limit_holds(caplog: Any) -> None:
    assert peers_the_file_limit_holds(1024) == (1024 - 102) // 5
    assert peers_the_file_limit_holds(100) == 7
    assert peers_the_file_limit_holds(10) == 0
    holds = peers_the_file_limit_holds(1024)
    assert LiveRegistry._max_peers(0, 1024) == holds
    assert LiveRegistry._max_peers(50, 1024) == 50
    with caplog.at_level(logging.WARNING):
        assert LiveRegistry._max_peers(10_000, 1024) == holds
    assert any("max_peers is 10000" in r.getMessage() for r in caplog.records)


# -- over HTTP and the WebSocket ----------------------------------------------------------------
async def _app(aiohttp_client: Any, settings: Settings, **limits: Any) -> TestClient:
    defaults = {
        "max_peers_per_address": 0,
        "joins_per_address_per_minute": 0,
        "join_code_failures_per_minute": 0,
    }
    client: TestClient = await aiohttp_client(
        create_app(settings.replace(**{**defaults, **limits}))
    )
    return client


async def _offer() -> tuple[Viewer, str]:
    viewer = Viewer()
    await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
    return viewer, viewer.pc.localDescription.sdp


def _error(body: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(body)["error"]
    return data


async def test_one_address_cannot_hold_more_than_its_share_of_peers(
    aiohttp_client: Any, settings: Settings
) -> None:
    client = await _app(aiohttp_client, settings, max_peers_per_address=3)
    created = await Sessions(client.app[DATABASE]).create()
    url = f"{base_url(client)}/whep/{created.session.id}"
    viewers = []
    for _ in range(3):
        viewer, sdp = await _offer()
        assert (await post_sdp(client.session, url, sdp)).status == 201
        viewers.append(viewer)
    extra, sdp = await _offer()
    refused = await post_sdp(client.session, url, sdp)
    assert refused.status == 429 and _error(refused.body)["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    # Nothing of the refused offer was made.
    assert len(client.app[LIVE].clients()) == 3
    # A viewer leaves: its share comes back.
    live = client.app[LIVE]
    await next(iter(live.clients())).close("deleted")
    assert live.limits.peers.total == 2
    assert (await post_sdp(client.session, url, sdp)).status == 201
    for viewer in [*viewers, extra]:
        await viewer.close()


async def test_the_server_cap_answers_503_server_busy(
    aiohttp_client: Any, settings: Settings
) -> None:
    client = await _app(aiohttp_client, settings, max_peers=2)
    assert client.app[LIVE].max_peers == 2
    created = await Sessions(client.app[DATABASE]).create()
    url = f"{base_url(client)}/whep/{created.session.id}"
    viewers = []
    for status in (201, 201, 503):
        viewer, sdp = await _offer()
        answer = await post_sdp(client.session, url, sdp)
        assert answer.status == status
        viewers.append(viewer)
    assert _error(answer.body)["code"] == "server_busy"
    page = WsParticipant(client.session, base_url(client))
    reply = await page.join(session=created.session.id)
    assert reply["code"] == "server_busy"
    await wait_until(lambda: page.ws is not None and page.ws.closed)
    assert page.ws is not None and page.ws.close_code == 1013  # try again later
    await page.close()
    for viewer in viewers:
        await viewer.close()


async def test_never_connected_offers_give_their_share_back(
    aiohttp_client: Any, settings: Settings
) -> None:
    client = await _app(
        aiohttp_client, settings, max_peers_per_address=2, connect_timeout_seconds=1.0
    )
    created = await Sessions(client.app[DATABASE]).create()
    url = f"{base_url(client)}/whep/{created.session.id}"
    half_open = []
    for _ in range(2):
        viewer, sdp = await _offer()
        assert (await post_sdp(client.session, url, sdp)).status == 201
        half_open.append(viewer)
    live = client.app[LIVE]
    await wait_until(lambda: live.limits.peers.total == 0, timeout=15)
    viewer, sdp = await _offer()
    assert (await post_sdp(client.session, url, sdp)).status == 201
    for peer in [*half_open, viewer]:
        await peer.close()


async def test_joins_are_throttled_per_address(aiohttp_client: Any, settings: Settings) -> None:
    client = await _app(
        aiohttp_client, settings, joins_per_address_per_minute=6, max_peers_per_address=4
    )
    created = await Sessions(client.app[DATABASE]).create()
    path = f"/j/{created.session.join_code}"
    statuses = [(await client.get(path)).status for _ in range(4)]
    assert statuses == [200] * 4  # the burst: max_peers_per_address joins
    refused = await client.get(path)
    assert refused.status == 429
    assert (await refused.json())["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 10
    # WHEP and the WebSocket draw on the same bucket.
    viewer, sdp = await _offer()
    answer = await post_sdp(client.session, f"{base_url(client)}/whep/{created.session.id}", sdp)
    assert answer.status == 429
    page = WsParticipant(client.session, base_url(client))
    assert (await page.join(session=created.session.id))["code"] == "rate_limited"
    await page.close()
    await viewer.close()


async def test_guessing_join_codes_is_throttled_everywhere(
    aiohttp_client: Any, settings: Settings
) -> None:
    """``/j/{code}`` answered 262 random codes a second; WHEP with a guessed code 3,687."""
    client = await _app(aiohttp_client, settings, join_code_failures_per_minute=3)
    created = await Sessions(client.app[DATABASE]).create(private=True)
    sid, code = created.session.id, created.session.join_code
    for guess in ("AAAA2222", "BBBB3333", "CCCC4444"):
        assert (await client.get(f"/j/{guess}")).status == 404
    refused = await client.get(f"/j/{code}")  # even the right code, for a while
    assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 1
    viewer, sdp = await _offer()
    answer = await post_sdp(client.session, f"{base_url(client)}/whep/{sid}", sdp, code)
    assert answer.status == 429
    for path in (f"/api/join-codes/{code}", f"/api/sessions/{sid}?code={code}"):
        assert (await client.get(path)).status == 429, path
    async with client.get(
        f"/api/sessions/{sid}/events", headers={"Authorization": f"Bearer {code}"}
    ) as events:
        assert events.status == 429
    page = WsParticipant(client.session, base_url(client))
    reply = await page.join(code=code)
    assert reply["code"] == "rate_limited"
    await wait_until(lambda: page.ws is not None and page.ws.closed)
    await page.close()
    await viewer.close()


async def test_each_entrance_counts_its_wrong_codes(
    aiohttp_client: Any, settings: Settings
) -> None:
    client = await _app(aiohttp_client, settings, join_code_failures_per_minute=2)
    created = await Sessions(client.app[DATABASE]).create(private=True)
    sid = created.session.id
    viewer, sdp = await _offer()
    url = f"{base_url(client)}/whep/{sid}"
    assert (await post_sdp(client.session, url, sdp, "AAAA2222")).status == 403
    page = WsParticipant(client.session, base_url(client))
    assert (await page.join(code="BBBB3333"))["code"] == "join_code_invalid"
    await page.close()
    assert (await post_sdp(client.session, url, sdp, created.session.join_code)).status == 429
    await viewer.close()


async def test_addresses_behind_a_trusted_proxy_are_told_apart(
    aiohttp_client: Any, settings: Settings
) -> None:
    client = await _app(
        aiohttp_client,
        settings,
        join_code_failures_per_minute=1,
        trusted_proxies=("127.0.0.1/32",),
    )

    async def guess(address: str, code: str = "AAAA2222") -> int:
        response = await client.get(f"/j/{code}", headers={"X-Forwarded-For": address})
        return response.status

    assert await guess("198.51.100.7") == 404
    assert await guess("198.51.100.7") == 429
    assert await guess("203.0.113.9") == 404  # someone else behind the same proxy


async def test_without_trusted_proxies_a_client_cannot_choose_its_address(
    aiohttp_client: Any, settings: Settings
) -> None:
    client = await _app(aiohttp_client, settings, join_code_failures_per_minute=1)
    assert (await client.get("/j/AAAA2222", headers={"X-Forwarded-For": "192.0.2.1"})).status == 404
    refused = await client.get("/j/AAAA2222", headers={"X-Forwarded-For": "192.0.2.2"})
    assert refused.status == 429
