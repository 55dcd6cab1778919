"""Shared fixtures: a migrated temporary database, a real server, real sessions.

Database-facing test modules carry ``pytestmark = pytest.mark.database``: each of their tests
that uses the database runs twice, on SQLite (``[sqlite]``) and on PostgreSQL
(``[postgresql]``), each time on a fresh, migrated database. PostgreSQL comes from a
throw-away cluster whose URL is in ``KOHTAAMO_TEST_POSTGRES_URL`` (``make test`` starts one:
``tests/pgcluster.py``). Without it the PostgreSQL half is skipped with the reason in the
summary, except under ``CI=1``, where a missing PostgreSQL fails the run instead.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aioice.ice
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from stream_server.app import create_app
from stream_server.catalog import service as catalog
from stream_server.config import Settings
from stream_server.db.engine import Database, async_url, run_blocking, upgrade_database
from stream_server.devices import service as devices_service
from stream_server.media.ice import restrict_host_addresses
from stream_server.staff import service as staff_service
from stream_server.web.keys import DATABASE
from tests.pgcluster import ENV_URL

BACKENDS = ("sqlite", "postgresql")
TEMPLATE_DB = "kohtaamo_template"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``database`` run on each backend (when they use the database)."""
    if metafunc.definition.get_closest_marker("database") and "db_backend" in (
        metafunc.fixturenames
    ):
        metafunc.parametrize("db_backend", BACKENDS, indirect=True)


@pytest.fixture
def db_backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` unless the test is marked ``database`` (then each backend in turn)."""
    return str(getattr(request, "param", "sqlite"))


def _with_database(url: str, name: str) -> str:
    return async_url(url).set(database=name).render_as_string(hide_password=False)


async def _admin(url: str, *statements: str) -> None:
    import asyncpg  # only the PostgreSQL half needs it

    parsed = async_url(url)
    connection = await asyncpg.connect(
        user=parsed.username,
        password=parsed.password,
        database=parsed.database or "postgres",
        host=str(parsed.query.get("host") or parsed.host or "localhost"),
        port=parsed.port,
    )
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_template() -> str:
    """The throw-away cluster's URL, with a migrated template database made once."""
    url = os.environ.get(ENV_URL)
    if not url:
        reason = (
            f"PostgreSQL not available: {ENV_URL} is not set "
            "(make test starts a throw-away cluster when PostgreSQL is installed)"
        )
        if os.environ.get("CI", "").lower() not in {"", "0", "false", "no"}:
            pytest.fail(f"{reason}; CI must run the PostgreSQL tests", pytrace=False)
        pytest.skip(reason)
    run_blocking(
        _admin(url, f"DROP DATABASE IF EXISTS {TEMPLATE_DB}", f"CREATE DATABASE {TEMPLATE_DB}")
    )
    upgrade_database(_with_database(url, TEMPLATE_DB))
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file made once: each test copies it (a copy takes a millisecond,
    running the migrations ~0.2 s, which over the suite's ~1,500 databases is minutes)."""
    path = tmp_path_factory.mktemp("template") / "kohtaamo.sqlite3"
    upgrade_database(f"sqlite+aiosqlite:///{path}")
    return path


_database_numbers = itertools.count(1)


class NewDatabase:
    """Makes fresh, migrated databases on one backend; removes them at the end of the test."""

    def __init__(self, backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.backend = backend
        self._tmp_path = tmp_path
        self._request = request
        self._made: list[str] = []

    def __call__(self, name: str = "kohtaamo", migrated: bool = True) -> str:
        if self.backend == "sqlite":
            path = self._tmp_path / f"{name}.sqlite3"
            if migrated:
                shutil.copyfile(self._request.getfixturevalue("sqlite_template"), path)
            return f"sqlite+aiosqlite:///{path}"
        server = self._request.getfixturevalue("postgres_template")
        database = f"test_{os.getpid()}_{next(_database_numbers)}"
        template = f"TEMPLATE {TEMPLATE_DB} STRATEGY FILE_COPY" if migrated else ""
        run_blocking(_admin(server, f"CREATE DATABASE {database} {template}"))
        self._made.append(database)
        return _with_database(server, database)

    def drop_all(self) -> None:
        if self._made:
            server = os.environ[ENV_URL]
            run_blocking(
                _admin(server, *(f"DROP DATABASE IF EXISTS {d} WITH (FORCE)" for d in self._made))
            )
            self._made.clear()


@pytest.fixture
def new_database(
    db_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., str]]:
    """``new_database(name)`` → the URL of a fresh, migrated database on this test's backend
    (``migrated=False``: an empty one)."""
    maker = NewDatabase(db_backend, tmp_path, request)
    try:
        yield maker
    finally:
        maker.drop_all()


@pytest.fixture
def settings(tmp_path: Path, new_database: Callable[..., str]) -> Settings:
    url = new_database()
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

    async def add(
        self,
        name: str = "anna",
        role: str = "admin",
        venue: str | None = None,
        organiser: str | None = None,
    ) -> str:
        """An account; a ``librarian`` names its venue, a ``coordinator`` its organiser."""
        async with self._client.app[DATABASE].session() as db:
            if venue or organiser:
                await catalog.sync_reference_data(db)
            await staff_service.add_staff(db, name, self.PASSWORD, role, venue, organiser)
        return name

    async def login(self, name: str = "anna", **account: str) -> str:
        """Log the test client in (cookie jar) and return the login's CSRF token; the
        account is made first unless it exists."""
        async with self._client.app[DATABASE].session() as db:
            exists = name in {user.name for user in await staff_service.list_staff(db)}
        if not exists:
            await self.add(name, **account)
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


class Api:
    """JSON calls with a staff API token."""

    def __init__(self, client: TestClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        response = await self.client.request(method, path, json=body, headers=self.headers)
        return response.status, await response.json()

    async def create(self, **fields: Any) -> dict[str, Any]:
        body = {"title": "Kotihoidon jumppa", "venue": "kantti", "room": "kohtaamo", **fields}
        status, data = await self.call("POST", "/api/sessions", body)
        assert status == 201, data
        return data  # type: ignore[no-any-return]


@pytest.fixture
async def api(client: TestClient, staff: Staff) -> Api:
    """An admin ``anna`` calling the API with her staff token (reference data loaded)."""
    async with client.app[DATABASE].session() as db:
        await catalog.sync_reference_data(db)
    await staff.add("anna")
    return Api(client, await staff.api_token("anna"))


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
