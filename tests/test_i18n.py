"""Translations as data: the gettext catalogs, their checks, plural forms and a third language.

Finnish is the source: every other catalog is checked against it message by message, and a
catalog that lacks a message shows it in Finnish. Each check is also shown failing, on a
broken copy of the shipped catalogs in the test's own temporary directory.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from babel.messages.catalog import Catalog, Message

from stream_server import i18n
from stream_server.app import create_app
from stream_server.config import Settings
from stream_server.i18n import LOCALE_DIR, Catalogs, catalog_path, message_key
from stream_server.i18n_tools import (
    Problem,
    catalog_problems,
    main,
    new_catalog,
    read_catalogs,
    used_message_ids,
    write_catalog,
)
from stream_server.web.keys import CATALOGS
from tests.conftest import Sessions
from tests.test_pages import get_page, html_lang

ROOT = Path(__file__).resolve().parent.parent
#: Where message ids are named: the server's code, its templates and the page scripts.
SOURCES = (ROOT / "stream_server", ROOT / "web" / "templates", ROOT / "web" / "static" / "js")
SHIPPED = read_catalogs(LOCALE_DIR)
USED = used_message_ids(SOURCES)
PROBLEMS = catalog_problems(SHIPPED)


# -- the shipped catalogs -------------------------------------------------------------------
def test_finnish_and_english_are_shipped_with_their_plural_rules() -> None:
    assert i18n.default_catalogs().languages == ("fi", "en")
    for language in ("fi", "en"):
        assert SHIPPED[language].plural_forms == "nplurals=2; plural=(n != 1);"


@pytest.mark.parametrize("message_id", sorted(USED))
def test_every_message_named_in_code_is_in_finnish_and_english(message_id: str) -> None:
    for language in ("fi", "en"):
        message = SHIPPED[language].get(message_id)
        assert message is not None and message.string, (language, USED[message_id][0])


@pytest.mark.parametrize("message_id", sorted(message_key(m) for m in SHIPPED["fi"] if m.id))
def test_every_message_is_translated_with_the_same_placeholders(message_id: str) -> None:
    """A missing English text, a ``{name}`` lost in translation or a missing plural form."""
    assert [p for p in PROBLEMS if p.message_id == message_id] == []


def test_the_check_command_passes_on_the_shipped_catalogs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check"]) == 0
    assert capsys.readouterr().out == ""


# -- plural forms ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("language", "count", "expected"),
    [
        ("fi", 1, "Tallennettu. Paikalla on 1 ihminen."),
        ("fi", 0, "Tallennettu. Paikalla on 0 ihmistä."),
        ("fi", 2, "Tallennettu. Paikalla on 2 ihmistä."),
        ("en", 1, "Saved: 1 person present."),
        ("en", 21, "Saved: 21 people present."),
    ],
)
def test_a_count_picks_the_plural_form(language: str, count: int, expected: str) -> None:
    assert i18n.translate("kiosk.headcount_saved", language, count=count) == expected


def test_counts_merged_from_the_planning_and_card_pages_have_a_singular() -> None:
    assert i18n.translate("prog.rule.count", "fi", count=1) == "1 kerran"
    assert i18n.translate("cards.rule.count", "en", count=1) == "(1 time)"
    assert i18n.translate("cards.rule.count", "fi", count=8) == "(8 kertaa)"
    copied = i18n.translate("prog.notice.copied", "en", count=1, skipped=0)
    assert copied.startswith("Copied 1 session to this week")


def test_page_scripts_get_plural_forms_by_cldr_category() -> None:
    """The scripts pick a form with ``Intl.PluralRules(lang).select(count)``."""
    script = i18n.default_catalogs().messages_for("en")
    assert script["kiosk.headcount_saved"] == {
        "one": "Saved: {count} person present.",
        "other": "Saved: {count} people present.",
    }
    assert script["join.button"] == "Join"


def test_a_plural_message_without_a_count_is_a_bug() -> None:
    with pytest.raises(TypeError, match="plural"):
        i18n.translate("kiosk.headcount_saved", "fi")
    with pytest.raises(KeyError):
        i18n.translate("no.such_message", "fi")


# -- dates and times (Babel, in the city's time zone) -----------------------------------------
def test_dates_are_babels_in_helsinki_time() -> None:
    fi, en = i18n.translator("fi"), i18n.translator("en")
    evening = dt.datetime(2026, 12, 4, 17, 30, tzinfo=dt.UTC)  # 19.30 in Helsinki
    assert (fi.time(evening), en.time(evening)) == ("19.30", "19:30")
    assert (fi.weekday_date(evening.date()), en.weekday_date(evening.date())) == (
        "pe 4.12.",
        "Fri 4 Dec",
    )
    assert (fi.date(evening.date()), en.date(evening.date())) == ("4.12.2026", "4 Dec 2026")
    assert (fi.month(2025, 11), en.month(2025, 11)) == ("marraskuu 2025", "November 2025")


# -- the checks fail when they should ----------------------------------------------------------
def _copy(catalog: Catalog) -> Catalog:
    copied = new_catalog(str(catalog.locale).split("_")[0])
    for message in catalog:
        if message.id:
            copied[message_key(message)] = message
    return copied


def _missing(catalog: Catalog) -> None:
    del catalog["join.button"]


def _wrong_placeholder(catalog: Catalog) -> None:
    del catalog["kiosk.next"]
    catalog["kiosk.next"] = Message("kiosk.next", "Next: {name}")


def _one_plural_form(catalog: Catalog) -> None:
    del catalog["kiosk.headcount_saved"]
    catalog["kiosk.headcount_saved"] = Message(
        ("kiosk.headcount_saved", "kiosk.headcount_saved"), ("{count} session", "")
    )


def _not_plural(catalog: Catalog) -> None:
    del catalog["kiosk.headcount_saved"]
    catalog["kiosk.headcount_saved"] = Message("kiosk.headcount_saved", "{count} sessions")


def _unknown(catalog: Catalog) -> None:
    catalog["join.buton"] = Message("join.buton", "Join")


def _fuzzy(catalog: Catalog) -> None:
    catalog["join.button"].flags.add("fuzzy")


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (_missing, Problem("en", "join.button", "missing")),
        (
            _wrong_placeholder,
            Problem("en", "kiosk.next", "placeholders ['name'] differ from Finnish ['title']"),
        ),
        (_one_plural_form, Problem("en", "kiosk.headcount_saved", "has 1 of 2 plural forms")),
        (_not_plural, Problem("en", "kiosk.headcount_saved", "must be plural, as in Finnish")),
        (_unknown, Problem("en", "join.buton", "not in the Finnish catalog")),
        (_fuzzy, Problem("en", "join.button", "fuzzy (not used until reviewed)")),
    ],
    ids=lambda value: getattr(value, "__name__", "")[1:] or None,
)
def test_the_check_reports_a_broken_english_catalog(
    breakage: Callable[[Catalog], None], expected: Problem, tmp_path: Path
) -> None:
    broken = _copy(SHIPPED["en"])
    breakage(broken)
    write_catalog(broken, catalog_path(tmp_path, "en"))
    write_catalog(SHIPPED["fi"], catalog_path(tmp_path, "fi"))
    assert catalog_problems(read_catalogs(tmp_path)) == [expected]
    assert main(["--locale-dir", str(tmp_path), "check"]) == 1


def test_a_plural_message_needs_a_count(tmp_path: Path) -> None:
    fi = _copy(SHIPPED["fi"])
    del fi["kiosk.headcount_saved"]
    fi["kiosk.headcount_saved"] = Message(
        ("kiosk.headcount_saved", "kiosk.headcount_saved"), ("yksi", "monta")
    )
    en = _copy(SHIPPED["en"])
    del en["kiosk.headcount_saved"]
    en["kiosk.headcount_saved"] = Message(
        ("kiosk.headcount_saved", "kiosk.headcount_saved"), ("one", "many")
    )
    assert Problem("fi", "kiosk.headcount_saved", "plural without {count}") in catalog_problems(
        {"fi": fi, "en": en}
    )


def test_an_id_named_in_a_template_but_missing_from_the_catalogs_is_found(
    tmp_path: Path,
) -> None:
    template = tmp_path / "page.html"
    template.write_text('<p>{{ _("join.button") }} {{ _("join.buton") }}</p>\n', encoding="utf-8")
    script = tmp_path / "page.js"
    script.write_text('status.textContent = t("chat.sent_nowhere", { n });\n', encoding="utf-8")
    used = used_message_ids([tmp_path])
    missing = sorted(set(used) - {message_key(m) for m in SHIPPED["fi"]})
    assert missing == ["chat.sent_nowhere", "join.buton"]
    assert used["join.buton"] == [f"{template}:1"]


# -- converting the old message dict -----------------------------------------------------------
OLD_DICT = """
from stream_server.basics import CITY_TZ  # never imported by the converter

MESSAGES: dict[str, dict[str, str]] = {
    "join.button": {"fi": "Liity", "en": "Join"},
    "plan.title": {"fi": "Ohjelman suunnittelu", "en": "Programme planning"},
    "plan.slots": {
        "fi": "Vapaita aikoja: {count}",
        "en": "Free slots: " "{count}",
    },
}
"""


def test_messages_added_to_the_old_dict_are_converted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """How a branch made before the catalogs (``planning``) gets its new messages in."""
    locale_dir = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, locale_dir)
    old = tmp_path / "i18n.py"
    old.write_text(OLD_DICT, encoding="utf-8")
    assert main(["--locale-dir", str(locale_dir), "from-dict", str(old)]) == 0
    assert "2 message(s) written: plan.title, plan.slots" in capsys.readouterr().out
    catalogs = Catalogs.load(locale_dir)
    assert catalogs.translate("plan.title", "en") == "Programme planning"
    assert catalogs.is_plural("plan.slots")
    assert catalogs.translate("plan.slots", "fi", count=3) == "Vapaita aikoja: 3"
    assert catalog_problems(read_catalogs(locale_dir)) == []


def test_with_a_base_only_the_branchs_changes_are_converted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Messages the branch did not touch keep what the catalogs made of them since."""
    locale_dir = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, locale_dir)
    base = tmp_path / "base.py"
    base.write_text(
        'MESSAGES = {"join.button": {"fi": "Liity", "en": "Join"},'
        ' "kiosk.headcount_saved": {"fi": "{n} tapahtumaa", "en": "{n} sessions"}}',
        encoding="utf-8",
    )
    branch = tmp_path / "branch.py"
    branch.write_text(
        'MESSAGES = {"join.button": {"fi": "Liity nyt", "en": "Join now"},'
        ' "kiosk.headcount_saved": {"fi": "{n} tapahtumaa", "en": "{n} sessions"}}',
        encoding="utf-8",
    )
    args = ["--locale-dir", str(locale_dir), "from-dict", str(branch), "--base", str(base)]
    assert main(args) == 0
    assert "1 message(s) written: join.button" in capsys.readouterr().out
    catalogs = Catalogs.load(locale_dir)
    assert catalogs.translate("join.button", "en") == "Join now"
    assert catalogs.translate("kiosk.headcount_saved", "en", count=1) == "Saved: 1 person present."


# -- a third language is a catalog -------------------------------------------------------------
@pytest.fixture
def swedish_locale(tmp_path: Path) -> Path:
    """The shipped catalogs and a Swedish one with a single message."""
    locale_dir = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, locale_dir)
    swedish = new_catalog("sv")
    swedish["site.this_language"] = Message("site.this_language", "På svenska")
    write_catalog(swedish, catalog_path(locale_dir, "sv"))
    return locale_dir


@pytest.fixture
async def app(settings: Settings, swedish_locale: Path) -> web.Application:
    return create_app(settings, catalogs=Catalogs.load(swedish_locale))


async def test_a_swedish_catalog_adds_swedish_and_falls_back_to_finnish(
    client: TestClient, sessions: Sessions
) -> None:
    created = await sessions.create(title="Tuolijumppa")
    path = f"/sessions/{created.session.id}"
    for headers, query in (({}, "?lang=sv"), ({"Accept-Language": "sv-SE,sv;q=0.9"}, "")):
        status, doc, _ = await get_page(client, path + query, headers)
        assert status == 200 and html_lang(doc) == "sv"
        # Its one message: the name it gives itself in the other pages' language links.
        links = {a.attrs["hreflang"]: a.text() for a in doc.find("nav").find_all("a")}
        assert links == {"fi": "Suomeksi", "en": "In English"}
        # Everything else is Finnish.
        assert doc.by_id("join-button").text() == "Liity"
    _, finnish, _ = await get_page(client, path)
    links = {a.attrs["hreflang"]: a.text() for a in finnish.find("nav").find_all("a")}
    assert links == {"en": "In English", "sv": "På svenska"}
    assert client.app is not None
    catalogs = client.app[CATALOGS]
    assert catalogs.languages == ("fi", "en", "sv")
    script = catalogs.messages_for("sv")
    assert script["site.this_language"] == "På svenska" and script["join.button"] == "Liity"
    # A plural message falls back with Finnish forms, keyed by Swedish plural categories.
    assert script["kiosk.headcount_saved"] == {
        "one": "Tallennettu. Paikalla on {count} ihminen.",
        "other": "Tallennettu. Paikalla on {count} ihmistä.",
    }


def test_the_check_lists_what_a_partial_catalog_lacks(swedish_locale: Path) -> None:
    problems = catalog_problems(read_catalogs(swedish_locale))
    assert {p.language for p in problems} == {"sv"}
    assert Problem("sv", "join.button", "missing") in problems
    assert len(problems) == len(SHIPPED["fi"]) - 1  # all but its one message
