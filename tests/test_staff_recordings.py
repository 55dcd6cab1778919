"""Staff list, download and delete recordings at ``/staff/recordings``.

What was missing: recordings could only be reached on the server's disk, so staff asked IT
for every file, and an unwanted recording stayed until the retention period ran out.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient

from stream_server.app import create_app
from stream_server.config import Settings
from tests.conftest import Sessions, Staff
from tests.test_pages import parse

STARTED = "20261201T160000Z"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(recording_retention_days=30.0)


class Files:
    """Recordings on disk as the recorder names them (the content does not matter here)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def add(self, name: str, size: int = 2_500_000) -> Path:
        path = self.directory / name
        path.write_bytes(os.urandom(1024) * (size // 1024))
        return path


@pytest.fixture
async def files(settings: Settings, sessions: Sessions) -> tuple[Files, str]:
    made = Files(settings.recordings_dir)
    created = await sessions.create(title="Kuopion historia")
    sid = created.session.id
    made.add(f"{sid}-{STARTED}.mkv")
    made.add(f"{sid}-{STARTED}-2.mkv", size=1_000_000)
    made.add(f"{sid}-20261202T160000Z.mkv.part")  # being recorded now
    made.add("gone0000session-20251101T100000Z.mkv")  # its session was deleted
    made.add("notes.txt")  # not a recording: never listed or served
    return made, sid


@pytest.mark.parametrize(
    "path",
    [
        "/staff/recordings",
        f"/staff/recordings/x-{STARTED}.mkv",
        f"/staff/recordings/x-{STARTED}.mkv/delete",
    ],
)
async def test_strangers_are_sent_to_the_login_form(client: TestClient, path: str) -> None:
    response = await client.get(path, allow_redirects=False)
    assert response.status == 303
    assert parse_qs(urlsplit(response.headers["Location"]).query)["next"] == [path]


async def test_strangers_cannot_delete(client: TestClient, files: tuple[Files, str]) -> None:
    made, sid = files
    response = await client.post(f"/staff/recordings/{sid}-{STARTED}.mkv/delete")
    assert response.status == 401
    assert (made.directory / f"{sid}-{STARTED}.mkv").exists()


async def test_the_list_shows_each_recording_with_its_session_and_expiry(
    client: TestClient, staff: Staff, files: tuple[Files, str]
) -> None:
    _, sid = files
    await staff.login()
    response = await client.get("/staff/recordings?lang=en")
    assert response.status == 200
    doc = parse(await response.text())
    rows = {
        row.attrs["data-recording"]: row
        for row in doc.find_all("tr")
        if "data-recording" in row.attrs
    }
    assert set(rows) == {
        f"{sid}-{STARTED}.mkv",
        f"{sid}-{STARTED}-2.mkv",
        f"{sid}-20261202T160000Z.mkv.part",
        "gone0000session-20251101T100000Z.mkv",
    }  # fmt: skip
    first = rows[f"{sid}-{STARTED}.mkv"]
    cells = [cell.text() for cell in first.find_all("td")]
    assert first.find("th").text() == "Kuopion historia"
    assert cells[0].endswith("1 Dec at 18:00")  # 16:00 UTC is 18:00 in Helsinki
    assert cells[1] == "2.5 MB"
    assert "at" in cells[2]  # 30 days after the file was last written
    links = {a.text(): a.attrs["href"] for a in first.find_all("a")}
    assert links == {
        "Download": f"/staff/recordings/{sid}-{STARTED}.mkv",
        "Delete": f"/staff/recordings/{sid}-{STARTED}.mkv/delete?lang=en",
    }
    live = rows[f"{sid}-20261202T160000Z.mkv.part"]
    assert live.find_all("a") == [] and "Being recorded" in live.text()
    assert rows["gone0000session-20251101T100000Z.mkv"].find("th").text() == "(removed session)"
    nav = {a.attrs["href"] for a in doc.find("nav", **{"class": "staff-nav"}).find_all("a")}
    assert "/staff/recordings?lang=en" in nav


async def test_the_staff_nav_links_to_the_recordings(client: TestClient, staff: Staff) -> None:
    await staff.login()
    doc = parse(await (await client.get("/staff")).text())
    links = {
        a.attrs["href"]: a.text() for a in doc.find("nav", **{"class": "staff-nav"}).find_all("a")
    }
    assert links["/staff/recordings"] == "Tallenteet"


async def test_a_download_is_the_file_as_an_attachment(
    client: TestClient, staff: Staff, files: tuple[Files, str]
) -> None:
    made, sid = files
    name = f"{sid}-{STARTED}-2.mkv"
    await staff.login()
    response = await client.get(f"/staff/recordings/{name}")
    assert response.status == 200
    assert await response.read() == (made.directory / name).read_bytes()
    assert response.headers["Content-Disposition"] == f'attachment; filename="{name}"'
    assert response.headers["Cache-Control"] == "no-store"
    # Scripts download with a staff API token.
    client.session.cookie_jar.clear()
    token = await staff.api_token()
    scripted = await client.get(
        f"/staff/recordings/{name}", headers={"Authorization": f"Bearer {token}"}
    )
    assert scripted.status == 200


async def test_deleting_asks_first_and_needs_the_csrf_token(
    client: TestClient, staff: Staff, files: tuple[Files, str]
) -> None:
    made, sid = files
    name = f"{sid}-{STARTED}.mkv"
    csrf = await staff.login()
    confirm = await client.get(f"/staff/recordings/{name}/delete")
    assert confirm.status == 200
    doc = parse(await confirm.text())
    assert "Kuopion historia" in doc.by_id("confirm-text").text()
    form = doc.find("form", action=f"/staff/recordings/{name}/delete")
    assert form.find("input", name="csrf_token").attrs["value"] == csrf
    assert (made.directory / name).exists()  # asking deletes nothing

    refused = await client.post(f"/staff/recordings/{name}/delete")
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "csrf_failed"
    assert (made.directory / name).exists()

    done = await client.post(
        f"/staff/recordings/{name}/delete", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert done.status == 303 and done.headers["Location"] == "/staff/recordings?deleted=1"
    assert not (made.directory / name).exists()
    page = parse(await (await client.get("/staff/recordings?deleted=1")).text())
    assert page.by_id("recording-deleted").text() == "Tallenne poistettu."
    assert (made.directory / f"{sid}-{STARTED}-2.mkv").exists()  # only that one


@pytest.mark.parametrize(
    "name",
    [
        "notes.txt",
        "..%2F..%2Fetc%2Fpasswd",
        "x-20261202T160000Z.mkv.part",
        f"nosuchsession-{STARTED}.mkv",
    ],
)
async def test_only_finished_recordings_are_served_or_deleted(
    client: TestClient, staff: Staff, files: tuple[Files, str], name: str
) -> None:
    made, sid = files
    if name.endswith(".part"):
        name = f"{sid}-20261202T160000Z.mkv.part"
    csrf = await staff.login()
    assert (await client.get(f"/staff/recordings/{name}")).status == 404
    assert (await client.get(f"/staff/recordings/{name}/delete")).status == 404
    deleted = await client.post(f"/staff/recordings/{name}/delete", data={"csrf_token": csrf})
    assert deleted.status == 404
    assert len(list(made.directory.iterdir())) == 5


async def test_without_a_retention_period_the_page_says_they_are_kept(
    files: tuple[Files, str], settings: Settings, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(create_app(settings.replace(recording_retention_days=0.0)))
    await Staff(client).login()
    doc = parse(await (await client.get("/staff/recordings?lang=en")).text())
    assert "not deleted automatically" in doc.find("main").text()
    row = next(
        r for r in doc.find_all("tr") if r.attrs.get("data-recording", "").endswith("-2.mkv")
    )
    assert row.find_all("td")[2].text() == "not automatically"
