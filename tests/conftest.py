"""Shared fixtures: a migrated temporary database, a real server, real sessions."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aioice.ice
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from stream_server.app import create_app
from stream_server.catalog import service as catalog
from stream_server.config import Settings
from stream_server.db.engine import Database, upgrade_database
from stream_server.devices import service as devices_service
from stream_server.media.ice import restrict_host_addresses
from stream_server.staff import service as staff_service
from stream_server.web.keys import DATABASE


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    url = f"sqlite+aiosqlite:///{tmp_path}/kohtaamo.sqlite3"
    upgrade_database(url)
    return Settings(
        database_url=url,
        recordings_dir=tmp_path / "recordings",
        ice_host_addresses=("127.0.0.1",),
        video_codec="VP8",
        attendance_heartbeat_seconds=0.5,
        # Test visits last seconds; with the 60 s default they would all be brief visits.
        # Tests of brief visits ask for the default (tests/test_attendance.py, test_reports.py).
        brief_visit_seconds=0.0,
        # Plain http on loopback: staff cookies without Secure, so the test client sends them.
        public_url="http://127.0.0.1",
        # Every test client is 127.0.0.1: the per-address caps and throttles would make one
        # test's peers each other's neighbours. tests/test_join_limits.py sets them.
        max_peers_per_address=0,
        joins_per_address_per_minute=0,
        join_code_failures_per_minute=0,
    )


@pytest.fixture(autouse=True)
def loopback_ice() -> None:
    """The tests' own peers gather ICE candidates on 127.0.0.1, the namespace's only address.

    aioice leaves loopback out by itself, and the restriction is process-wide: without this a
    test whose server runs in another process had peers without a single candidate (their
    media never connected; they were counted anyway until counting waited for media).
    """
    restrict_host_addresses(("127.0.0.1",))


@pytest.fixture
def fast_consent(monkeypatch: pytest.MonkeyPatch) -> None:
    """ICE consent freshness in ~1.5 s instead of ~30 s, so dead peers are noticed quickly."""
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.5)
    monkeypatch.setattr(aioice.ice, "CONSENT_FAILURES", 3)


@pytest.fixture
async def app(settings: Settings) -> web.Application:
    return create_app(settings)


@pytest.fixture
async def client(aiohttp_client: Any, app: web.Application) -> TestClient:
    return await aiohttp_client(app)


class Sessions:
    """Creates sessions in the running app's database."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(self, **kwargs: Any) -> catalog.CreatedSession:
        kwargs.setdefault("title", "Testiluento")
        kwargs.setdefault("mode", "broadcast")
        async with self._db.session() as db:
            await catalog.sync_reference_data(db)
            return await catalog.create_session(db, **kwargs)

    async def end(self, session_id: str) -> None:
        async with self._db.session() as db:
            await catalog.end_session(db, session_id, catalog.utcnow() - dt.timedelta(seconds=1))


@pytest.fixture
async def sessions(client: TestClient) -> AsyncIterator[Sessions]:
    yield Sessions(client.app[DATABASE])


def base_url(client: TestClient) -> str:
    return str(client.make_url("")).rstrip("/")


class Staff:
    """Staff accounts, logins and API tokens in the running app's database."""

    PASSWORD = "correct horse battery"

    def __init__(self, client: TestClient) -> None:
        self._client = client

    async def add(self, name: str = "anna") -> str:
        async with self._client.app[DATABASE].session() as db:
            await staff_service.add_staff(db, name, self.PASSWORD)
        return name

    async def login(self, name: str = "anna") -> str:
        """Log the test client in (cookie jar) and return the login's CSRF token."""
        await self.add(name)
        response = await self._client.post(
            "/staff/login",
            data={"name": name, "password": self.PASSWORD, "next": "/api/staff/me"},
        )
        assert response.status == 200, await response.text()
        return str((await response.json())["csrf_token"])

    async def api_token(self, name: str = "anna") -> str:
        async with self._client.app[DATABASE].session() as db:
            _, token = await staff_service.issue_api_token(db, name)
        return token


@pytest.fixture
async def staff(client: TestClient) -> Staff:
    return Staff(client)


class Devices:
    """Registers devices in the running app's database and returns their tokens."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, venue: str, kind: str = "kiosk", room: str | None = None) -> str:
        async with self._db.session() as db:
            await catalog.sync_reference_data(db)
            return (await devices_service.add_device(db, venue, kind, room)).token

    async def revoke_all(self) -> None:
        async with self._db.session() as db:
            for device in await devices_service.list_devices(db):
                await devices_service.revoke_device(db, device.id)


@pytest.fixture
async def devices(client: TestClient) -> Devices:
    return Devices(client.app[DATABASE])


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fuzz suite's case counts (tests/fuzzing.py), so the test output states them."""
    from tests import fuzzing

    if not fuzzing.CASES:
        return
    terminalreporter.section("fuzz cases")
    for name, count in sorted(fuzzing.CASES.items()):
        terminalreporter.write_line(f"{count:>7}  {name}")
    terminalreporter.write_line(
        f"{sum(fuzzing.CASES.values()):>7}  in all (KOHTAAMO_FUZZ_SCALE={fuzzing.scale():g}, "
        f"seed {fuzzing.seed()})"
    )
