"""The ``kohtaamo`` command line, run in-process against a temporary SQLite file."""

from __future__ import annotations

import asyncio
import io
import json
import os
import stat
from pathlib import Path

import pytest

from stream_server.catalog import service as catalog
from stream_server.cli import main
from stream_server.db.engine import Database


class Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str], database_url: str) -> None:
        self._capsys = capsys
        self.database_url = database_url

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        self._capsys.readouterr()  # drop anything printed before
        code = main(list(argv))
        out, err = self._capsys.readouterr()
        return code, out, err


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    for name in list(os.environ):
        if name.startswith("KOHTAAMO_"):
            monkeypatch.delenv(name)
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.sqlite3"
    monkeypatch.setenv("KOHTAAMO_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)  # `demo` writes var/demo-tokens.json here
    return Cli(capsys, url)


@pytest.fixture
def upgraded(cli: Cli) -> Cli:
    code, _, err = cli("db", "upgrade")
    assert code == 0, err
    return cli


def test_db_upgrade_creates_the_database_and_can_run_again(cli: Cli, tmp_path: Path) -> None:
    code, out, err = cli("db", "upgrade")
    assert code == 0, err
    assert "newest schema" in out
    assert (tmp_path / "cli.sqlite3").exists()
    assert cli("db", "upgrade")[0] == 0


def test_sessions_create_prints_the_tokens_once_as_json(upgraded: Cli) -> None:
    code, out, err = upgraded(
        "sessions", "create", "--title", "T", "--mode", "broadcast", "--venue", "kantti",
        "--receivers", "nilsia,juankoski", "--private", "--starts", "2026-12-01T18:00",
        "--minutes", "90", "--json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["title"] == "T"
    assert data["mode"] == "broadcast"
    assert data["visibility"] == "private"
    assert data["venue"] == "kantti"
    assert sorted(data["receivers"], key=lambda r: r["venue"]) == [
        {"venue": "juankoski", "room": "lukusali"},
        {"venue": "nilsia", "room": "lukusali"},
    ]
    assert data["starts_at"] == "2026-12-01T18:00:00+02:00"
    assert data["ends_at"] == "2026-12-01T19:30:00+02:00"
    assert len(data["id"]) == 10
    assert len(data["join_code"]) == 8
    assert set(data["join_code"]) <= set(catalog.JOIN_CODE_ALPHABET)
    assert data["host_token"] and data["publish_token"]
    assert data["host_token"] != data["publish_token"]
    assert data["join_url"].endswith(f"/j/{data['join_code']}")
    assert data["whip_url"].endswith(f"/whip/{data['id']}")

    async def check() -> None:
        database = Database(upgraded.database_url)
        try:
            async with database.session() as db:
                session = await catalog.get_session(db, data["id"])
                assert session is not None
                assert session.host_token_hash != data["host_token"]
                assert catalog.may_publish(session, data["publish_token"])
                assert catalog.may_view(session, data["join_code"])
                assert not catalog.may_view(session, None)
        finally:
            await database.close()

    asyncio.run(check())


def test_sessions_create_prints_absolute_links_on_the_configured_address(
    upgraded: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OBS, e-mails and cards cannot use a path: every link is absolute. Without public_url
    it is the server's own HOST:PORT (a wildcard host as 127.0.0.1)."""
    monkeypatch.setenv("KOHTAAMO_HOST", "0.0.0.0")
    monkeypatch.setenv("KOHTAAMO_PORT", "9321")
    args = ("sessions", "create", "--title", "T", "--mode", "broadcast", "--json")
    code, out, err = upgraded(*args)
    assert code == 0, err
    data = json.loads(out)
    links = {key: value for key, value in data.items() if key.endswith("_url")}
    assert set(links) >= {"join_url", "whip_url", "whep_url", "host_url", "card_url", "poster_url"}
    assert all(url.startswith("http://127.0.0.1:9321/") for url in links.values()), links
    assert links["whip_url"] == f"http://127.0.0.1:9321/whip/{data['id']}"
    assert links["join_url"] == f"http://127.0.0.1:9321/j/{data['join_code']}"

    monkeypatch.setenv("KOHTAAMO_PUBLIC_URL", "https://kohtaamo.example.fi/")
    code, out, err = upgraded(*args)
    assert code == 0, err
    data = json.loads(out)
    assert data["whip_url"] == f"https://kohtaamo.example.fi/whip/{data['id']}"
    assert data["whep_url"] == f"https://kohtaamo.example.fi/whep/{data['id']}"
    assert data["join_url"] == f"https://kohtaamo.example.fi/j/{data['join_code']}"
    assert data["host_url"] == (
        f"https://kohtaamo.example.fi/host/{data['id']}?token={data['host_token']}"
    )
    assert data["session_url"] == f"https://kohtaamo.example.fi/sessions/{data['id']}"


def test_sessions_create_without_json_prints_the_essentials(upgraded: Cli) -> None:
    code, out, _ = upgraded(
        "sessions", "create", "--title", "Muistikahvila", "--mode", "group", "--venue", "nilsia"
    )
    assert code == 0
    fields = dict(line.split(None, 1) for line in out.splitlines())
    assert set(fields) == {"id", "title", "starts_at", "join_code", "publish_token", "host_url"}
    assert fields["title"] == "Muistikahvila"
    assert f"/host/{fields['id']}?token=" in fields["host_url"]


def test_sessions_list_shows_public_sessions_only(upgraded: Cli) -> None:
    common = ("--mode", "broadcast", "--starts", "2099-01-01T12:00", "--json")
    code, out, _ = upgraded(
        "sessions", "create", "--title", "Julkinen", "--receivers", "nilsia, juankoski", *common
    )
    assert code == 0
    public = json.loads(out)
    assert len(public["receivers"]) == 2  # spaces after commas are fine
    code, out, _ = upgraded("sessions", "create", "--title", "Yksityinen", "--private", *common)
    assert code == 0
    code, out, _ = upgraded("sessions", "list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [(r["id"], r["title"]) for r in rows] == [(public["id"], "Julkinen")]
    assert not {"join_code", "host_token", "publish_token"} & rows[0].keys()
    # Without --json: the pages' words and Babel's dates, in Finnish unless asked.
    code, out, _ = upgraded("sessions", "list")
    assert code == 0
    expected = [public["id"], "to", "1.1.2099", "klo", "12.00", "Luento", "kantti", "Julkinen"]
    assert out.split() == expected
    code, out, _ = upgraded("sessions", "list", "--lang", "en")
    assert "Thu, 1 Jan 2099 at 12:00 Lecture" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--venue", "kuopio"), "error: unknown venue 'kuopio'"),
        (("--receivers", "kantti"), "error: a receiving room must be at another venue"),
        (("--starts", "huomenna"), "error: --starts is not an ISO date-time: huomenna"),
        (("--minutes", "0"), "error: minutes must be positive"),
        (("--organiser", "nobody"), "error: unknown organiser 'nobody'"),
    ],
)
def test_sessions_create_errors_exit_2_with_a_message(
    upgraded: Cli, args: tuple[str, ...], message: str
) -> None:
    code, out, err = upgraded("sessions", "create", "--title", "T", "--mode", "broadcast", *args)
    assert code == 2
    assert out == ""
    assert err.startswith(message)
    code, out, _ = upgraded("sessions", "list", "--json")
    assert json.loads(out) == []


def test_a_bad_setting_is_a_configuration_error(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOHTAAMO_VIDEO_CODEC", "AV1")
    code, out, err = cli("db", "upgrade")
    assert code == 2
    assert out == ""
    assert "configuration error" in err and "video_codec" in err


def test_areas_population_is_set_by_staff(upgraded: Cli) -> None:
    code, out, _ = upgraded("areas", "list")
    assert code == 0
    populations = {line.split()[0]: int(line.split()[1]) for line in out.splitlines()}
    assert populations == {"urban": 103300, "north": 14300, "south": 7400}

    code, out, _ = upgraded("areas", "set-population", "north", "15000")
    assert code == 0
    code, out, _ = upgraded("areas", "list")
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert lines["north"].split()[1] == "15000"
    assert "Northern rural area" in lines["north"]
    assert lines["urban"].split()[1] == "103300"


def test_setting_the_population_of_an_unknown_area_fails(upgraded: Cli) -> None:
    code, out, err = upgraded("areas", "set-population", "tahko", "100")
    assert code == 2
    assert out == ""
    assert "unknown area 'tahko'" in err


def test_demo_loads_once_and_keeps_its_tokens(upgraded: Cli, tmp_path: Path) -> None:
    code, out, err = upgraded("demo")
    assert code == 0, err
    assert out.startswith("demo: created ")
    tokens_file = tmp_path / "var" / "demo-tokens.json"
    assert stat.S_IMODE(tokens_file.stat().st_mode) == 0o600
    data = json.loads(tokens_file.read_text())
    rows = data["sessions"]
    assert f"demo: created {len(rows)} sessions" in out
    # A staff account for the dashboard, its random password shown and kept in the file.
    assert data["staff"]["name"] == "demo" and len(data["staff"]["password"]) >= 12
    assert f"password: {data['staff']['password']}" in out
    assert "past sessions with attendance" in out
    titles = {r["title"] for r in rows}
    assert {"Demo: Luento suorana KANTISTA", "Demo: Keskusteluryhmä"} <= titles
    live = [r for r in rows if r["live"]]
    assert {r["visibility"] for r in live} == {"public", "private"}
    for row in rows:
        assert row["publish_token"] and row["join_code"]
    # The live ones are shown with how to watch and how to publish.
    assert "Demo: Luento suorana KANTISTA" in out
    for row in live:
        assert row["join_url"] in out and row["publish_token"] in out
    # Room screens of the live lecture and a home tablet, with their enrolment links.
    assert {(d["kind"], d["place"]) for d in data["devices"]} == {
        ("kiosk", "nilsia/lukusali"),
        ("room-link", "juankoski/lukusali"),
        ("tablet", "kantti"),
    }
    for device in data["devices"]:
        assert device["enrol_path"].endswith("#device=" + device["token"])
        assert device["enrol_path"] in out
    code, out, _ = upgraded("devices", "list", "--json")
    assert len(json.loads(out)) == 3

    before = tokens_file.read_text()
    code, out, _ = upgraded("demo")
    assert code == 0
    assert out.startswith("demo: data already loaded")
    assert tokens_file.read_text() == before
    code, out, _ = upgraded("sessions", "list", "--json")
    assert len(json.loads(out)) == len(
        [r for r in rows if r["visibility"] == "public" and r["phase"] != "ended"]
    )


def test_demo_links_follow_the_configured_port_and_serve_prints_its_real_address(
    upgraded: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kohtaamo demo` printed links on port 8080 whatever port the server was given."""
    monkeypatch.setenv("KOHTAAMO_PORT", "9123")
    code, out, err = upgraded("demo")
    assert code == 0, err
    assert "http://127.0.0.1:9123/staff/login" in out and ":8080" not in out
    data = json.loads((tmp_path / "var" / "demo-tokens.json").read_text())
    lecture = next(r for r in data["sessions"] if r["title"] == "Demo: Luento suorana KANTISTA")
    assert lecture["join_url"].startswith("http://127.0.0.1:9123/j/")
    # Run again on another port: the same demo, its links on the new address.
    monkeypatch.setenv("KOHTAAMO_PORT", "9124")
    code, out, _ = upgraded("demo")
    assert f"http://127.0.0.1:9124/j/{lecture['join_code']}" in out and ":9123" not in out
    # `kohtaamo serve --port` prints them again with the address it really serves on.
    import aiohttp.web

    served: dict[str, object] = {}
    monkeypatch.setattr(aiohttp.web, "run_app", lambda app, **kw: served.update(kw))
    code, out, err = upgraded("serve", "--host", "0.0.0.0", "--port", "9555")
    assert code == 0, err
    assert served["port"] == 9555
    assert f"http://127.0.0.1:9555/j/{lecture['join_code']}" in out
    tablet = next(d for d in data["devices"] if d["kind"] == "tablet")
    assert f"http://127.0.0.1:9555{tablet['enrol_path']}" in out
    assert "9124" not in out


def test_staff_add_reads_the_password_from_stdin_and_tokens_can_be_revoked(
    upgraded: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("too short\n"))
    code, _, err = upgraded("staff", "add", "anna")
    assert code == 2 and "at least" in err
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    assert upgraded("staff", "add", "anna")[0] == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    code, _, err = upgraded("staff", "add", "anna")
    assert code == 2 and "already exists" in err
    code, out, err = upgraded("staff", "token", "anna")
    assert code == 0 and out.strip().startswith("ks_") and "revoke-token 1" in err
    code, out, _ = upgraded("staff", "list")
    assert "anna" in out and "token 1" in out and "active" in out
    assert upgraded("staff", "revoke-token", "1")[0] == 0
    assert upgraded("staff", "revoke-token", "1")[0] == 2
    assert "revoked" in upgraded("staff", "list")[1]


def test_devices_are_added_on_a_fresh_database_listed_and_revoked(upgraded: Cli) -> None:
    code, out, err = upgraded(
        "devices",
        "add",
        "--venue",
        "juankoski",
        "--room",
        "lukusali",
        "--kind",
        "room-link",
        "--json",
    )
    assert code == 0, err
    device = json.loads(out)
    assert device["token"].startswith("kd_") and device["room"] == "lukusali"
    assert device["enrol_url"] == f"/kiosk#device={device['token']}"
    code, _, err = upgraded("devices", "add", "--venue", "nowhere", "--kind", "kiosk")
    assert code == 2 and "unknown venue" in err
    code, _, err = upgraded(
        "devices", "add", "--venue", "kantti", "--room", "lava", "--kind", "tablet"
    )
    assert code == 2 and "not to a room" in err
    listing = json.loads(upgraded("devices", "list", "--json")[1])
    assert [(d["id"], d["revoked"]) for d in listing] == [(device["id"], False)]
    assert "token" not in listing[0]
    assert upgraded("devices", "revoke", str(device["id"]))[0] == 0
    assert upgraded("devices", "revoke", str(device["id"]))[0] == 2
    assert json.loads(upgraded("devices", "list", "--json")[1])[0]["revoked"] is True
