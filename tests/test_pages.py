"""The HTML pages: which view a person gets, in which language, and that it is well formed."""

from __future__ import annotations

import datetime as dt
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from stream_server import i18n
from stream_server.basics import CITY_TZ, utcnow
from tests.conftest import Sessions

DOC = Path(__file__).resolve().parent.parent / "docs" / "signaling.md"

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}
VOID |= {"track", "wbr"}


class Node:
    """A parsed element: enough structure to ask "which elements, with what text"."""

    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None) -> None:
        self.tag = tag
        self.attrs = attrs
        self.parent = parent
        self.children: list[Node | str] = []

    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text() for c in self.children]
        return re.sub(r"\s+", " ", "".join(parts)).strip()

    def iter(self) -> Any:
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        return [
            n
            for n in self.iter()
            if (tag is None or n.tag == tag) and all(n.attrs.get(k) == v for k, v in attrs.items())
        ]

    def find(self, tag: str | None = None, **attrs: str) -> Node:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag} {attrs}>"
        return found[0]

    def by_id(self, element_id: str) -> Node:
        return self.find(id=element_id)

    def hidden(self) -> bool:
        node: Node | None = self
        while node is not None:
            if "hidden" in node.attrs:
                return True
            node = node.parent
        return False


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Node(tag, dict(attrs), self.current))

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None and node.parent is not None, f"stray </{tag}>"
        self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(html: str) -> Node:
    builder = TreeBuilder()
    builder.feed(html)
    builder.close()
    assert builder.current is builder.root, f"unclosed <{builder.current.tag}>"
    return builder.root


async def get_page(
    client: TestClient, path: str, headers: dict[str, str] | None = None
) -> tuple[int, Node, Any]:
    async with client.get(path, headers=headers or {}, allow_redirects=False) as resp:
        assert resp.content_type == "text/html"
        return resp.status, parse(await resp.text()), resp.headers


def html_lang(doc: Node) -> str | None:
    return doc.find("html").attrs.get("lang")


def config_of(doc: Node) -> dict[str, Any]:
    return json.loads(doc.by_id("kohtaamo-config").text())


def heading(doc: Node) -> str:
    visible = [h for h in doc.find_all("h1") if not h.hidden()]
    assert len(visible) == 1, [h.text() for h in visible]
    return visible[0].text()


# -- i18n ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "header", "expected"),
    [
        (None, None, "fi"),
        ("en", "fi-FI,fi;q=0.9", "en"),
        ("fi", "en-GB,en;q=0.9", "fi"),
        (None, "en-GB,en;q=0.9", "en"),
        (None, "fi-FI,fi;q=0.9,en-US;q=0.8,en;q=0.7", "fi"),
        (None, "de-DE,de;q=0.9,en;q=0.5,fi;q=0.4", "en"),
        (None, "de-DE,de;q=0.9", "fi"),
        (None, "en;q=0, fi;q=0.1", "fi"),
        (None, "*", "fi"),
        ("sv", "garbage;;,", "fi"),
    ],
)
def test_negotiate_language(query: str | None, header: str | None, expected: str) -> None:
    assert i18n.negotiate_language(query, header) == expected


def test_every_protocol_error_code_has_a_translation() -> None:
    """The codes are read from docs/signaling.md, so a new code needs a translation."""
    section = DOC.read_text(encoding="utf-8").split("## Error codes", 1)[1].split("##", 1)[0]
    section = re.sub(r"\([^)]*\)", "", section)  # explanations in parentheses
    codes = set(re.findall(r"`([a-z_]+)`", section))
    assert codes == set(i18n.PROTOCOL_ERROR_CODES)
    catalogs = i18n.default_catalogs()
    for code in codes:
        for lang in catalogs.languages:
            assert i18n.translate(f"error.{code}", lang)
    assert set(catalogs.messages_for("en")) == catalogs.message_ids


def test_local_time_format() -> None:
    """Babel's fi and en_GB formats in Helsinki time, joined by the catalogs' "klo"/"at"."""
    fi, en = i18n.translator("fi"), i18n.translator("en")
    moment = dt.datetime(2026, 12, 1, 16, 0, tzinfo=dt.UTC)  # 18.00 in Helsinki (EET)
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    assert fi.datetime(moment, now) == "ti 1.12. klo 18.00"
    assert en.datetime(moment, now) == "Tue 1 Dec at 18:00"
    summer = dt.datetime(2026, 6, 5, 6, 5, tzinfo=dt.UTC)  # 9.05 in Helsinki (EEST)
    assert fi.datetime(summer, now) == "pe 5.6. klo 9.05"
    last_year = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    assert fi.datetime(summer, last_year) == "pe 5.6.2026 klo 9.05"
    assert en.datetime(summer, last_year) == "Fri, 5 Jun 2026 at 09:05"


# -- the join page -----------------------------------------------------------------------------
async def test_join_page_is_finnish_by_default(client: TestClient, sessions: Sessions) -> None:
    created = await sessions.create(title="Tuolijumppa")
    status, doc, headers = await get_page(client, f"/sessions/{created.session.id}")
    assert status == 200
    assert html_lang(doc) == "fi"
    assert heading(doc) == "Tuolijumppa"
    button = doc.by_id("join-button")
    assert button.tag == "button" and button.text() == "Liity"
    # The switch leads to the same page in English and says so in English.
    switch = doc.find("nav").find("a")
    assert switch.attrs["href"] == f"/sessions/{created.session.id}?lang=en"
    assert switch.attrs["lang"] == "en" and switch.text() == "In English"
    config = config_of(doc)
    assert config["join"] == {"session": created.session.id}
    assert config["session_id"] == created.session.id
    assert config["messages"]["error.session_full"] == i18n.translate("error.session_full", "fi")
    assert headers["Referrer-Policy"] == "no-referrer"


async def test_join_page_structure_for_assistive_technology(
    client: TestClient, sessions: Sessions
) -> None:
    created = await sessions.create(mode="group")
    _, doc, _ = await get_page(client, f"/sessions/{created.session.id}")
    assert len(doc.find_all("main")) == 1 and doc.find_all("header") and doc.find_all("nav")
    skip = doc.find("a", **{"class": "skip-link"})
    assert skip.attrs["href"] == "#main" and doc.by_id("main").tag == "main"
    status = doc.by_id("status")
    assert status.attrs["role"] == "status" and status.attrs["aria-live"] == "polite"
    assert not status.hidden()
    controls = doc.find(role="group")
    assert controls.attrs.get("aria-label")
    for button_id in ("mic-button", "camera-button", "leave-button"):
        button = doc.by_id(button_id)
        assert button.tag == "button" and button.attrs["type"] == "button"
        assert button.find("span").text(), f"{button_id} has no visible label"
    # Before joining only the lobby is visible; the call, left and ended views wait.
    assert not doc.by_id("lobby").hidden()
    for view in ("call", "left", "ended", "failed"):
        assert doc.by_id(view).hidden()
    assert doc.find("script", src="/static/js/join.js").attrs["type"] == "module"


async def test_english_with_query_parameter(client: TestClient, sessions: Sessions) -> None:
    created = await sessions.create()
    status, doc, _ = await get_page(client, f"/sessions/{created.session.id}?lang=en")
    assert status == 200 and html_lang(doc) == "en"
    assert doc.by_id("join-button").text() == "Join"
    assert doc.find("nav").find("a").text() == "Suomeksi"
    assert config_of(doc)["messages"]["call.leave"] == "Leave"


async def test_english_from_accept_language(client: TestClient, sessions: Sessions) -> None:
    created = await sessions.create()
    headers = {"Accept-Language": "en-GB,en;q=0.9"}
    _, doc, resp_headers = await get_page(client, f"/sessions/{created.session.id}", headers)
    assert html_lang(doc) == "en" and doc.by_id("join-button").text() == "Join"
    assert "Accept-Language" in resp_headers["Vary"]
    # ...but a person's explicit choice wins over the browser.
    _, doc, _ = await get_page(client, f"/sessions/{created.session.id}?lang=fi", headers)
    assert html_lang(doc) == "fi"


async def test_not_started_page_shows_local_start_time(
    client: TestClient, sessions: Sessions
) -> None:
    # 18.00 Helsinki time, well beyond the 30 minutes before doors open.
    local = (utcnow() + dt.timedelta(days=3)).astimezone(CITY_TZ)
    start = local.replace(hour=18, minute=0, second=0, microsecond=0)
    created = await sessions.create(starts_at=start)
    status, doc, _ = await get_page(client, f"/j/{created.session.join_code}")
    assert status == 200
    assert heading(doc) == "Tapahtuma ei ole vielä alkanut"
    weekday = ("ma", "ti", "ke", "to", "pe", "la", "su")[start.weekday()]
    expected = f"{weekday} {start.day}.{start.month}. klo 18.00"
    assert doc.find("p", **{"class": "notice-body"}).text() == f"Tapahtuma alkaa {expected}."
    assert doc.find("time").attrs["datetime"] == start.isoformat()
    assert not doc.find_all(id="join-button")
    notice = doc.find("section", **{"class": "notice"})
    assert int(notice.attrs["data-reload-in"] or 0) > 3 * 24 * 3600 - 24 * 3600
    _, doc, _ = await get_page(client, f"/j/{created.session.join_code}?lang=en")
    assert heading(doc) == "Not started yet"
    assert "at 18:00" in doc.find("p", **{"class": "notice-body"}).text()


async def test_doors_open_half_an_hour_before(client: TestClient, sessions: Sessions) -> None:
    created = await sessions.create(starts_at=utcnow() + dt.timedelta(minutes=20))
    _, doc, _ = await get_page(client, f"/j/{created.session.join_code}")
    assert doc.by_id("join-button").text() == "Liity"


async def test_ended_page(client: TestClient, sessions: Sessions) -> None:
    created = await sessions.create(title="Muistikahvila")
    await sessions.end(created.session.id)
    status, doc, _ = await get_page(client, f"/sessions/{created.session.id}")
    assert status == 200
    assert heading(doc) == "Tapahtuma on päättynyt"
    assert doc.find("p", **{"class": "session-title"}).text() == "Muistikahvila"
    assert not doc.find_all(id="join-button")
    _, doc, _ = await get_page(client, f"/j/{created.session.join_code}?lang=en")
    assert heading(doc) == "This session has ended"


async def test_session_past_its_end_is_ended(client: TestClient, sessions: Sessions) -> None:
    created = await sessions.create(starts_at=utcnow() - dt.timedelta(hours=5), minutes=60)
    _, doc, _ = await get_page(client, f"/sessions/{created.session.id}")
    assert heading(doc) == "Tapahtuma on päättynyt"


async def test_unknown_code_is_a_404_page(client: TestClient) -> None:
    status, doc, _ = await get_page(client, "/j/ZZZZ2222")
    assert status == 404 and html_lang(doc) == "fi"
    assert heading(doc) == "Tapahtumaa ei löytynyt"
    assert "K7QP 2MXA" in doc.find("p", **{"class": "notice-body"}).text()
    status, doc, _ = await get_page(client, "/j/ZZZZ2222", {"Accept-Language": "en"})
    assert status == 404 and heading(doc) == "Session not found"


async def test_unknown_session_is_a_404_page(client: TestClient) -> None:
    status, doc, _ = await get_page(client, "/sessions/nosuchthing?lang=en")
    assert status == 404 and html_lang(doc) == "en"
    assert heading(doc) == "Session not found"


async def test_private_session_needs_its_code(client: TestClient, sessions: Sessions) -> None:
    created = await sessions.create(title="Kotihoidon jumppa", private=True)
    status, doc, _ = await get_page(client, f"/sessions/{created.session.id}")
    assert status == 404
    assert heading(doc) == "Tapahtumaa ei löytynyt"
    assert "liittymiskoodilla" in doc.find("p", **{"class": "notice-body"}).text()
    assert "Kotihoidon jumppa" not in str(doc.text())
    # The code as people type it: lower case, with a space and a dash.
    code = created.session.join_code
    status, doc, _ = await get_page(client, f"/j/{code[:4].lower()}%20-{code[4:]}")
    assert status == 200
    assert heading(doc) == "Kotihoidon jumppa"
    assert config_of(doc)["join"] == {"code": code}


def entry_links(doc: Node) -> list[Node]:
    """The programme page's links to its entries' session pages."""
    return [h.find("a") for h in doc.find_all("h3", **{"class": "entry-title"})]


async def test_private_sessions_are_not_listed(client: TestClient, sessions: Sessions) -> None:
    public = await sessions.create(title="Yhteislaulu")
    await sessions.create(title="Salainen ryhmä", private=True)
    later = await sessions.create(title="Digiapu", starts_at=utcnow() + dt.timedelta(days=1))
    status, doc, _ = await get_page(client, "/")
    assert status == 200 and html_lang(doc) == "fi"
    links = {a.text(): a.attrs["href"] for a in entry_links(doc)}
    assert links == {
        "Yhteislaulu": f"/sessions/{public.session.id}",
        "Digiapu": f"/sessions/{later.session.id}",
    }
    # The form for a join code is labelled.
    field = doc.by_id("join-code")
    assert doc.find("label", **{"for": "join-code"}).text() == "Liittymiskoodi"
    assert field.attrs["name"] == "code"
    _, doc, _ = await get_page(client, "/?lang=en")
    hrefs = [a.attrs["href"] for a in entry_links(doc)]
    assert f"/sessions/{public.session.id}?lang=en" in hrefs


async def test_code_form_redirects_to_the_code_page(client: TestClient) -> None:
    async with client.get("/j?code=k7qp-2mxa&lang=en", allow_redirects=False) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == "/j/K7QP2MXA?lang=en"


async def test_titles_are_escaped(client: TestClient, sessions: Sessions) -> None:
    title = "<script>alert('x')</script> & co"
    created = await sessions.create(title=title, description="<img src=x onerror=alert(1)>")
    async with client.get(f"/sessions/{created.session.id}") as resp:
        raw = await resp.text()
    doc = parse(raw)
    assert heading(doc) == title  # shown as text...
    scripts = doc.find_all("script")
    data_blocks = ("application/json", "application/ld+json")  # never run by the browser
    assert all(s.attrs.get("src") or s.attrs.get("type") in data_blocks for s in scripts)
    assert not doc.find_all("img")  # ...never as markup
    assert "<script>alert" not in raw and "&lt;script&gt;" in raw
    # The config JSON is in a <script> element: '<' must not appear raw inside it.
    assert "</script> & co" not in doc.by_id("kohtaamo-config").text()
    _, doc, _ = await get_page(client, "/")
    assert entry_links(doc)[0].text() == title


# -- the presenter page -----------------------------------------------------------------------
async def test_host_page_needs_the_host_token(client: TestClient, sessions: Sessions) -> None:
    created = await sessions.create()
    sid = created.session.id
    for query in ("", "?token=wrong", f"?token={created.publish_token}", "?token="):
        status, doc, _ = await get_page(client, f"/host/{sid}{query}")
        assert status == 403, query
        assert heading(doc) == "Ei pääsyä"
        assert not doc.find_all(id="kohtaamo-config")
    status, doc, _ = await get_page(client, f"/host/nosuchthing?token={created.host_token}")
    assert status == 404


async def test_host_page_with_the_token(client: TestClient, sessions: Sessions) -> None:
    created = await sessions.create(title="Luento", private=True)
    sid = created.session.id
    status, doc, headers = await get_page(client, f"/host/{sid}?token={created.host_token}&lang=en")
    assert status == 200 and html_lang(doc) == "en"
    config = config_of(doc)
    assert config["role"] == "host" and config["join"] == {"session": sid}
    # The token stays in the URL the presenter was given; it is not copied into the page.
    assert created.host_token not in json.dumps(config)
    switch = doc.find("nav").find("a").attrs["href"]
    assert switch == f"/host/{sid}?token={created.host_token}&lang=fi"
    assert headers["Cache-Control"] == "no-store"
    for button_id in ("media-button", "screen-button", "end-button", "join-button"):
        assert doc.by_id(button_id).tag == "button"
    assert doc.by_id("end-dialog").tag == "dialog"
    assert doc.by_id("online-now").tag == "output"
