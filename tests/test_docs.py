"""docs/ says what the code does, row by row, as Datasette's documentation tests do.

The settings, the room agent's settings and the WebSocket close codes are generated into docs/
by ``kohtaamo docs --write``; each row is compared with its declaration here, one test case per
setting. The HTTP and signaling error codes are compared with the codes the source can send,
both ways; every route of the app, every command and every relative link is followed. The
second half shows each checker failing once, on a doctored copy, with exactly the complaint
a person would need.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
from pathlib import Path

import pytest

from kiosk_client.cli import build_parser as kiosk_parser
from stream_server import docs
from stream_server.cli import build_parser, main
from stream_server.config import PROJECT_ROOT

SETTINGS = docs.settings_table()
KIOSK = docs.kiosk_settings_table()
CLI = docs.commands_table()
CLOSE_CODES = docs.close_codes_table()
GENERATED = (SETTINGS, KIOSK, CLI, CLOSE_CODES)
HTTP_CODES = docs.http_error_codes()
SIGNALING_CODES = docs.signaling_error_codes()
ROUTES = docs.app_routes()
COMMANDS = [("kohtaamo", p) for p in docs.command_paths(build_parser())] + [
    ("kohtaamo-kiosk", p) for p in docs.command_paths(kiosk_parser())
]


def read(path: Path) -> str:
    return (PROJECT_ROOT / path).read_text(encoding="utf-8")


def documented(table: docs.Table) -> docs.Table:
    return docs.documented_table(read(table.path), table)


def every_page() -> str:
    return "\n".join(read(page) for page in docs.PAGES)


def routes_section() -> str:
    """The table of routes in docs/api.md (prose elsewhere may name a path loosely)."""
    return read(docs.API).split("\n## Routes\n", 1)[1].split("\n## ", 1)[0]


# -- the generated tables, row by row -------------------------------------------------------------
@pytest.mark.parametrize(
    ("table", "key"),
    [(t, key) for t in GENERATED for key in t.by_key()],
    ids=[f"{t.name}-{key.strip('`')}" for t in GENERATED for key in t.by_key()],
)
def test_each_declared_row_is_documented_as_declared(table: docs.Table, key: str) -> None:
    assert docs.row_problems(table, documented(table), key) == []


@pytest.mark.parametrize("table", GENERATED, ids=[t.name for t in GENERATED])
def test_no_documented_row_is_missing_from_the_code(table: docs.Table) -> None:
    extra = set(documented(table).by_key()) - set(table.by_key())
    assert extra == set(), f"{table.path} documents what the code no longer declares"


def test_the_generated_tables_are_what_kohtaamo_docs_writes() -> None:
    """Formatting included: the committed files are exactly what ``--write`` produces."""
    assert docs.stale_tables() == []
    assert main(["docs"]) == 0


# -- error codes, both ways -----------------------------------------------------------------------
@pytest.mark.parametrize("code", sorted(HTTP_CODES))
def test_each_http_error_code_is_documented_with_its_status(code: str) -> None:
    expected = docs.http_errors_table(HTTP_CODES, {})
    have = docs.documented_table(read(docs.API), expected)
    assert docs.http_error_problems(expected, have, f"`{code}`") == []


def test_every_documented_http_error_code_exists() -> None:
    expected = docs.http_errors_table(HTTP_CODES, {})
    have = docs.documented_table(read(docs.API), expected)
    assert set(have.by_key()) - set(expected.by_key()) == set()


@pytest.mark.parametrize("code", sorted(SIGNALING_CODES))
def test_each_signaling_error_code_is_documented(code: str) -> None:
    assert code in docs.documented_signaling_codes(read(docs.SIGNALING))


def test_every_documented_signaling_error_code_exists() -> None:
    """Joining shares entrance checks with WHEP, so an HTTP error code may reach a page too."""
    documented_codes = docs.documented_signaling_codes(read(docs.SIGNALING))
    assert documented_codes
    assert documented_codes - SIGNALING_CODES - set(HTTP_CODES) == set()


# -- routes, commands, links ----------------------------------------------------------------------
@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_each_route_is_in_the_api_reference(route: tuple[str, str]) -> None:
    assert route in docs.documented_routes(routes_section())


def test_every_route_in_the_api_reference_exists() -> None:
    assert docs.documented_routes(routes_section()) - set(ROUTES) == set()


@pytest.mark.parametrize(
    ("program", "path"), COMMANDS, ids=[" ".join((prog, *path)) for prog, path in COMMANDS]
)
def test_each_command_is_documented(program: str, path: tuple[str, ...]) -> None:
    assert docs.documented_command(every_page(), program, path)


@pytest.mark.parametrize("row", CLI.rows, ids=[row[0].strip("`") for row in CLI.rows])
def test_each_command_says_what_it_does(row: tuple[str, str]) -> None:
    assert row[1], f"{row[0]} has no help= text"


@pytest.mark.parametrize("page", docs.PAGES, ids=[str(p) for p in docs.PAGES])
def test_every_relative_link_leads_somewhere(page: Path) -> None:
    assert docs.broken_links(page, read(page), PROJECT_ROOT) == []


def test_the_readme_fits_on_two_screens() -> None:
    assert len(read(Path("README.md")).splitlines()) <= 150


# -- each checker fails when it should -----------------------------------------------------------
def test_a_changed_default_names_the_setting_and_both_values() -> None:
    text = read(docs.OPERATIONS).replace(
        "| `KOHTAAMO_PORT` | integer | `8080` |", "| `KOHTAAMO_PORT` | integer | `80` |"
    )
    have = docs.documented_table(text, SETTINGS)
    assert docs.table_problems(SETTINGS, have) == [
        "`port`: default is '`8080`' in the code, '`80`' in docs/operations.md (settings)"
    ]


def test_a_new_setting_without_docs_fails() -> None:
    new = ("`new_knob`", "`KOHTAAMO_NEW_KNOB`", "integer", "`1`", "A knob nobody wrote up.")
    declared = dataclasses.replace(SETTINGS, rows=(*SETTINGS.rows, new))
    problems = docs.table_problems(declared, documented(SETTINGS))
    assert problems == ["`new_knob`: not documented in docs/operations.md (settings)"]


def test_a_removed_setting_still_documented_fails() -> None:
    declared = dataclasses.replace(SETTINGS, rows=SETTINGS.rows[1:])
    problems = docs.table_problems(declared, documented(SETTINGS))
    assert problems == ["`host`: documented in docs/operations.md (settings) but not in the code"]


def test_a_changed_kiosk_default_fails() -> None:
    text = read(docs.OPERATIONS).replace(
        "| `KOHTAAMO_KIOSK_LEAD_SECONDS` | number | `120.0` |",
        "| `KOHTAAMO_KIOSK_LEAD_SECONDS` | number | `300.0` |",
    )
    assert docs.table_problems(KIOSK, docs.documented_table(text, KIOSK)) == [
        "`lead_seconds`: default is '`120.0`' in the code, '`300.0`' in "
        "docs/operations.md (kiosk-settings)"
    ]


def test_a_missing_close_code_row_fails() -> None:
    text = read(docs.SIGNALING).replace("| 4003 | `removed` | removed by the host |\n", "")
    assert docs.table_problems(CLOSE_CODES, docs.documented_table(text, CLOSE_CODES)) == [
        "4003: not documented in docs/signaling.md (close-codes)"
    ]


def test_markers_missing_is_an_error_not_an_empty_table() -> None:
    with pytest.raises(docs.DocsError, match="no '<!-- generated: settings"):
        docs.read_block("# Settings\n\nwritten by hand\n", "settings")


def fake_source(tmp_path: Path, code: str) -> Path:
    """A source tree with the real error classes and one module of ``code``."""
    package = tmp_path / "stream_server"
    package.mkdir()
    shutil.copy(PROJECT_ROOT / "stream_server" / "errors.py", package / "errors.py")
    (package / "handler.py").write_text(code, encoding="utf-8")
    return tmp_path


def test_an_undocumented_http_error_code_is_found_in_the_source(tmp_path: Path) -> None:
    source = fake_source(tmp_path, 'raise Forbidden("no", code="made_up")\n')
    codes = docs.http_error_codes(source)
    assert codes["made_up"] == frozenset({403})
    expected = docs.http_errors_table(codes, {})
    have = docs.documented_table(read(docs.API), expected)
    assert docs.http_error_problems(expected, have, "`made_up`") == [
        "`made_up`: not documented in docs/api.md (http-error-codes)"
    ]


def test_a_documented_http_error_code_with_another_status_fails() -> None:
    text = read(docs.API).replace("| `survey_too_fast` | 429 |", "| `survey_too_fast` | 400 |")
    expected = docs.http_errors_table(HTTP_CODES, {})
    have = docs.documented_table(text, expected)
    assert docs.http_error_problems(expected, have, "`survey_too_fast`") == [
        "`survey_too_fast`: HTTP status is '429' in the code, '400' in docs/api.md "
        "(http-error-codes)"
    ]


def test_a_documented_http_error_code_without_a_meaning_fails() -> None:
    text = read(docs.API).replace(
        "| `gone` | 410 | The resource existed but is gone (the generic 410). |",
        "| `gone` | 410 |  |",
    )
    expected = docs.http_errors_table(HTTP_CODES, {})
    have = docs.documented_table(text, expected)
    assert docs.http_error_problems(expected, have, "`gone`") == [
        "`gone`: no meaning written in docs/api.md"
    ]


def test_a_documented_http_error_code_the_code_lacks_fails(tmp_path: Path) -> None:
    source = fake_source(tmp_path, "")
    expected = docs.http_errors_table(docs.http_error_codes(source), {})
    have = docs.documented_table(read(docs.API), expected)
    assert "`survey_too_fast`" not in expected.by_key()
    assert docs.http_error_problems(expected, have, "`survey_too_fast`") == [
        "`survey_too_fast`: documented in docs/api.md (http-error-codes) but not in the code"
    ]


def test_two_error_classes_of_one_name_are_refused(tmp_path: Path) -> None:
    """What broke: survey_api declared its own ``TooManyRequests``, so a scan by name gave
    its 429 ``survey_too_fast`` the code of errors.TooManyRequests instead."""
    source = fake_source(tmp_path, "class TooManyRequests(KohtaamoError):\n    code = 'x'\n")
    with pytest.raises(docs.DocsError, match="declared twice: TooManyRequests"):
        docs.http_error_codes(source)


def test_an_undocumented_signaling_error_code_is_found_in_the_source(tmp_path: Path) -> None:
    source = fake_source(tmp_path, 'raise ProtocolError("made_up", "no")\n')
    assert docs.signaling_error_codes(source) == {"made_up"}
    assert "made_up" not in docs.documented_signaling_codes(read(docs.SIGNALING))


def test_a_route_left_out_of_the_reference_is_missed() -> None:
    section = routes_section().replace("`GET /healthz`", "GET healthz")
    assert ("GET", "/healthz") not in docs.documented_routes(section)
    assert ("GET", "/healthz") in ROUTES


def test_a_command_left_out_of_the_docs_is_missed() -> None:
    assert docs.documented_command("run `kohtaamo db backup FILE`", "kohtaamo", ("db", "backup"))
    assert not docs.documented_command("`kohtaamo db upgrade`", "kohtaamo", ("db", "backup"))
    assert not docs.documented_command("`kohtaamo dbx backup`", "kohtaamo", ("db", "backup"))


def test_a_command_without_help_is_a_row_without_a_description() -> None:
    parser = argparse.ArgumentParser(prog="kohtaamo")
    sub = parser.add_subparsers()
    sub.add_parser("tidy")
    sub.add_parser("purge", help="delete old rows").add_argument("day")
    assert docs.command_rows(parser, "kohtaamo") == [
        ("kohtaamo tidy", ""),
        ("kohtaamo purge DAY", "delete old rows"),
    ]


def test_a_broken_link_and_a_missing_anchor_are_reported(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "b.md").write_text("# B\n## Real heading\n", encoding="utf-8")
    page = Path("docs") / "a.md"
    text = (
        "[fine](b.md#real-heading) [web](https://example.org/x.md)\n"
        "[gone](c.md) [wrong anchor](b.md#nowhere)\n"
        "```\n[in code](d.md)\n```\n"
    )
    assert docs.broken_links(page, text, tmp_path) == [
        "docs/a.md:2: c.md: no such file",
        "docs/a.md:2: b.md#nowhere: no heading #nowhere",
    ]


def test_a_stale_table_is_found_and_rewritten(tmp_path: Path) -> None:
    """``kohtaamo docs`` reports a table edited by hand; ``--write`` puts it right."""
    shutil.copytree(PROJECT_ROOT / "docs", tmp_path / "docs")
    shutil.copy(PROJECT_ROOT / "README.md", tmp_path / "README.md")
    page = tmp_path / docs.OPERATIONS
    page.write_text(
        page.read_text(encoding="utf-8").replace("| `8080` |", "| `80` |"), encoding="utf-8"
    )
    assert docs.stale_tables(tmp_path) == ["docs/operations.md: settings"]
    assert docs.write_tables(tmp_path) == [docs.OPERATIONS]
    assert docs.stale_tables(tmp_path) == []
    assert page.read_text(encoding="utf-8") == read(docs.OPERATIONS)


def test_a_new_section_missing_from_the_contents_is_found(tmp_path: Path) -> None:
    shutil.copytree(PROJECT_ROOT / "docs", tmp_path / "docs")
    shutil.copy(PROJECT_ROOT / "README.md", tmp_path / "README.md")
    page = tmp_path / "docs" / "librarian.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n## Loans\n", encoding="utf-8")
    assert docs.stale_tables(tmp_path) == ["docs/librarian.md: contents"]
    docs.write_tables(tmp_path)
    assert "- [Loans](#loans)" in docs.read_block(page.read_text(encoding="utf-8"), "contents")
