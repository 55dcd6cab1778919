"""The audit log (who, what, when, before and after) and the planning page's undo from it."""

from __future__ import annotations

import io
import json

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import Api, Staff
from tests.test_cli import Cli, cli, upgraded  # noqa: F401 (fixtures)


async def test_every_change_is_in_the_audit_log_with_before_and_after(
    api: Api, client: TestClient, staff: Staff
) -> None:
    created = await api.create(
        starts="2027-02-02T18:00", recurrence={"weekdays": ["tu"], "count": 2}
    )
    first, second = (o["id"] for o in created["occurrences"])
    await api.call("PATCH", f"/api/sessions/{second}", {"title": "Laskiaisjumppa"})
    await api.call("POST", f"/api/sessions/{first}/cancel", {"reason": "Lumimyräkkä"})
    await api.call("PUT", "/api/areas/north", {"population": 14400})
    await api.call("POST", "/api/organisers", {"name": "Kuopion Martat ry", "kind": "association"})

    status, log = await api.call("GET", "/api/audit")
    assert status == 200
    entries = log["entries"]
    assert [(e["action"], e["target"]["kind"]) for e in entries] == [
        ("add", "organiser"),
        ("population", "area"),
        ("cancel", "session"),
        ("edit", "session"),
        ("create", "series"),
    ]
    assert {e["staff"] for e in entries} == {"anna"}
    assert all(e["at"].endswith(("+02:00", "+03:00")) for e in entries)
    cancel, edit = entries[2], entries[3]
    assert cancel["target"]["id"] == first
    assert cancel["before"]["sessions"][first]["status"] == "scheduled"
    assert cancel["after"]["sessions"][first]["status"] == "cancelled"
    assert cancel["after"]["sessions"][first]["cancel_reason"] == "Lumimyräkkä"
    assert edit["before"]["sessions"][second]["title"] == "Kotihoidon jumppa"
    assert edit["after"]["sessions"][second]["title"] == "Laskiaisjumppa"
    assert entries[1]["before"] == {"population": 14300}
    assert entries[1]["after"] == {"population": 14400}
    # Tokens never reach the log.
    assert created["host_token"] not in str(log) and created["publish_token"] not in str(log)

    # Paged, newest first.
    status, page = await api.call("GET", "/api/audit?limit=2")
    assert [e["id"] for e in page["entries"]] == [e["id"] for e in entries[:2]]
    status, rest = await api.call("GET", f"/api/audit?limit=2&before={page['next_before']}")
    assert [e["id"] for e in rest["entries"]] == [e["id"] for e in entries[2:4]]
    status, _ = await api.call("GET", "/api/audit?limit=0")
    assert status == 400


async def test_only_admins_read_the_audit_log(client: TestClient, staff: Staff) -> None:
    await staff.add("pekka", role="staff")
    token = await staff.api_token("pekka")
    response = await client.get("/api/audit", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "out_of_scope"
    assert (await client.get("/api/audit")).status == 401


async def test_undo_takes_back_the_last_change_of_its_author(
    api: Api, client: TestClient, staff: Staff
) -> None:
    status, nothing = await api.call("POST", "/api/programme/undo")
    assert status == 409 and nothing["error"]["code"] == "nothing_to_undo"
    created = await api.create(
        starts="2027-02-02T18:00", recurrence={"weekdays": ["tu"], "count": 3}
    )
    ids = [o["id"] for o in created["occurrences"]]
    await api.call(
        "PATCH",
        f"/api/series/{created['series_id']}",
        {"from": ids[1], "starts": "2027-02-10T17:00", "title": "Keskiviikkoisin"},
    )
    status, undone = await api.call("POST", "/api/programme/undo")
    assert status == 200 and undone["undone"]["action"] == "edit_following"
    status, series = await api.call("GET", f"/api/series/{created['series_id']}")
    assert [o["title"] for o in series["occurrences"]] == ["Kotihoidon jumppa"] * 3
    assert [o["starts_at"][11:16] for o in series["occurrences"]] == ["18:00"] * 3
    assert series["recurrence"]["weekdays"] == ["tu"] and series["time"] == "18:00"

    # Someone else changes an occurrence: undoing the creation is refused, not a clobber.
    await staff.add("ville")
    ville = Api(client, await staff.api_token("ville"))
    await ville.call("PATCH", f"/api/sessions/{ids[2]}", {"title": "Villen muutos"})
    status, refused = await api.call("POST", "/api/programme/undo")
    assert status == 409 and refused["error"]["code"] == "undo_conflict"
    status, _ = await ville.call("POST", "/api/programme/undo")  # ville undoes his own
    assert status == 200
    status, undone = await api.call("POST", "/api/programme/undo")
    assert status == 200 and undone["undone"]["action"] == "create"
    status, _ = await api.call("GET", f"/api/series/{created['series_id']}")
    assert status == 404
    status, _ = await api.call("GET", f"/api/sessions/{ids[0]}")
    assert status == 404
    status, log = await api.call("GET", "/api/audit?limit=1")
    assert log["entries"][0]["action"] == "undo"


# -- the command line ----------------------------------------------------------------------------
def test_staff_add_takes_a_role_and_its_scope(
    upgraded: Cli,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def add(*argv: str) -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
        return upgraded("staff", "add", *argv)

    assert add("liisa", "--role", "librarian", "--venue", "nilsia")[0] == 0
    assert add("kaisa", "--role", "coordinator", "--organiser", "kotihoito")[0] == 0
    assert add("paavo", "--role", "staff")[0] == 0
    assert add("aino")[0] == 0  # admin, as every account made before roles
    code, _, err = add("x1", "--role", "librarian")
    assert code == 2 and "--venue" in err
    code, _, err = add("x2", "--role", "coordinator", "--organiser", "nobody")
    assert code == 2 and "unknown organiser" in err
    code, _, err = add("x3", "--role", "staff", "--venue", "kantti")
    assert code == 2
    code, out, _ = upgraded("staff", "list")
    lines = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip()}
    assert lines == {
        "aino": "admin",
        "kaisa": "coordinator",
        "liisa": "librarian",
        "paavo": "staff",
    }


def test_organisers_are_added_and_listed_from_the_command_line(upgraded: Cli) -> None:  # noqa: F811
    code, out, err = upgraded(
        "organisers", "add", "--name", "Asukasyhdistys Neulamäki", "--kind", "resident", "--json"
    )
    assert code == 0, err
    added = json.loads(out)
    assert added["slug"] == "asukasyhdistys-neulamaki" and added["kind"] == "resident"
    code, out, err = upgraded(
        "organisers", "add", "--name", "Toinen", "--kind", "city", "--slug", "Ei Näin"
    )
    assert code == 2 and "slug" in err
    code, out, err = upgraded(
        "organisers",
        "add",
        "--name",
        "Samma",
        "--kind",
        "city",
        "--slug",
        "asukasyhdistys-neulamaki",
    )
    assert code == 2 and "already exists" in err
    code, out, _ = upgraded("organisers", "list", "--json")
    listed = json.loads(out)
    assert {"slug", "name"} <= set(listed[0])
    assert "asukasyhdistys-neulamaki" in {o["slug"] for o in listed}
    assert "kotihoito" in {o["slug"] for o in listed}  # the shipped ones
