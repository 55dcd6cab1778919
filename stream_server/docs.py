"""The tables in docs/ that the code writes, and the checks that keep docs/ true to the code.

A table written by hand drifts (Datasette's lesson, and ours: the settings test once checked
only that each name appeared somewhere). So the settings, the room agent's settings and the
WebSocket close codes are rendered from their declarations between marker comments
(``kohtaamo docs --write``), and the error codes, routes, commands and links are compared
with what the code really has. Every check is a small function returning the problems it
found, so that the tests run it on the real files and on doctored copies alike.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import re
import types
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from kiosk_client.config import ENV_PREFIX as KIOSK_ENV_PREFIX
from kiosk_client.config import KioskConfig
from stream_server.config import PROJECT_ROOT, SETTINGS, Settings
from stream_server.live.member import CLOSE_CODES
from stream_server.web.errors import FALLBACK_CODES, INTERNAL_ERROR

DOCS = Path("docs")
#: The file each generated table lives in, relative to the project root.
OPERATIONS = DOCS / "operations.md"
SIGNALING = DOCS / "signaling.md"
API = DOCS / "api.md"
#: Every page of the documentation: the links between them are followed by the tests.
PAGES = (
    Path("README.md"),
    DOCS / "librarian.md",
    DOCS / "operations.md",
    DOCS / "api.md",
    DOCS / "signaling.md",
    DOCS / "architecture.md",
    DOCS / "benchmarks.md",
    DOCS / "privacy.md",
)
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class DocsError(ValueError):
    """A documentation file lacks what a generated table needs (its marker comments)."""


# -- tables between marker comments -------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Table:
    """A Markdown table keyed by its first column, as generated or as found in a file."""

    name: str
    path: Path
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def render(self) -> str:
        lines = [_row(self.header), "|" + "---|" * len(self.header)]
        lines += [_row(row) for row in self.rows]
        return "\n".join(lines)

    def by_key(self) -> dict[str, tuple[str, ...]]:
        return {row[0]: row for row in self.rows}


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def begin_marker(name: str) -> str:
    return f"<!-- generated: {name} (written by `kohtaamo docs --write`; do not edit by hand) -->"


def end_marker(name: str) -> str:
    return f"<!-- end generated: {name} -->"


def _block_span(text: str, name: str) -> tuple[int, int]:
    begin, end = begin_marker(name), end_marker(name)
    start = text.find(begin)
    stop = text.find(end)
    if start < 0 or stop < start:
        raise DocsError(f"no {begin!r} … {end!r} block")
    return start + len(begin), stop


def read_block(text: str, name: str) -> str:
    start, stop = _block_span(text, name)
    return text[start:stop].strip("\n")


def replace_block(text: str, name: str, body: str) -> str:
    start, stop = _block_span(text, name)
    return text[:start] + "\n" + body + "\n" + text[stop:]


def parse_table(markdown: str) -> list[tuple[str, ...]]:
    """The body rows of the first Markdown table in ``markdown`` (header and rule dropped)."""
    rows: list[tuple[str, ...]] = []
    for line in markdown.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = re.split(r"(?<!\\)\|", line.strip()[1:-1])
        rows.append(tuple(cell.strip().replace("\\|", "|") for cell in cells))
    return rows[2:]


def documented_table(text: str, table: Table) -> Table:
    """The table as it stands in ``text`` between ``table``'s markers."""
    rows = parse_table(read_block(text, table.name))
    return dataclasses.replace(table, rows=tuple(rows))


def row_problems(expected: Table, documented: Table, key: str) -> list[str]:
    """What is wrong with the documented row ``key`` (empty: it says what the code says)."""
    want = expected.by_key().get(key)
    have = documented.by_key().get(key)
    where = f"{documented.path} ({documented.name})"
    if want is None:
        return [f"{key}: documented in {where} but not in the code"] if have else []
    if have is None:
        return [f"{key}: not documented in {where}"]
    problems = []
    for column, wanted, found in zip(expected.header, want, have, strict=False):
        if wanted != found:
            problems.append(f"{key}: {column} is {wanted!r} in the code, {found!r} in {where}")
    if len(have) != len(want):
        problems.append(f"{key}: {len(have)} columns in {where}, {len(want)} expected")
    return problems


def table_problems(expected: Table, documented: Table) -> list[str]:
    """Every row's problems, the documented rows the code no longer has included."""
    keys = list(expected.by_key()) + [k for k in documented.by_key() if k not in expected.by_key()]
    return [problem for key in keys for problem in row_problems(expected, documented, key)]


# -- the settings -------------------------------------------------------------------------------
def type_label(annotation: Any) -> str:
    """A type as IT staff read it: ``float | None`` is "number, optional"."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return ", ".join(type_label(a) for a in members) + ", optional"
    if origin is tuple:
        args = typing.get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:
            return "list"
        return "range" if args == (int, int) else "tuple"
    if origin in (Mapping, dict):
        return "table"
    names = {str: "text", int: "integer", float: "number", bool: "boolean", Path: "path"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def value_label(value: Any) -> str:
    """A default as it would be written in the TOML file (unset and empty ones in words)."""
    if value is None or value == "":
        return "unset"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, (tuple, list)):
        return "`[]`" if not value else "`" + ", ".join(str(v) for v in value) + "`"
    if isinstance(value, Mapping):
        return "`{}`" if not value else f"`{dict(value)}`"
    return f"`{value}`"


def settings_table() -> Table:
    """``docs/operations.md``'s table of the server's settings, from :data:`SETTINGS`."""
    hints = typing.get_type_hints(Settings)
    rows = tuple(
        (
            f"`{s.name}`",
            f"`{s.env_var}`",
            type_label(hints[s.name]),
            value_label(s.default),
            s.description,
        )
        for s in SETTINGS
    )
    header = ("setting (TOML key)", "environment variable", "type", "default", "what it does")
    return Table("settings", OPERATIONS, header, rows)


def kiosk_settings_table() -> Table:
    """The room agent's settings, from :class:`~kiosk_client.config.KioskConfig`'s fields."""
    hints = typing.get_type_hints(KioskConfig)
    rows = []
    for field in dataclasses.fields(KioskConfig):
        if field.default is not dataclasses.MISSING:
            default = field.default
        else:
            default = field.default_factory()  # type: ignore[operator]
        shown = field.metadata.get("shown")
        rows.append(
            (
                f"`{field.name}`",
                f"`{KIOSK_ENV_PREFIX}{field.name.upper()}`",
                type_label(hints[field.name]),
                shown if shown is not None else value_label(default),
                field.metadata.get("doc", ""),
            )
        )
    header = ("key", "environment variable", "type", "default", "what it does")
    return Table("kiosk-settings", OPERATIONS, header, tuple(rows))


def close_codes_table() -> Table:
    """``docs/signaling.md``'s WebSocket close codes, from the live layer's ``CLOSE_CODES``."""
    rows = tuple(
        (str(code), f"`{why}`", reason)
        for why, (code, reason) in sorted(CLOSE_CODES.items(), key=lambda item: item[1][0])
    )
    return Table("close-codes", SIGNALING, ("close code", "why", "reason sent"), rows)


# -- error codes, read from the source ----------------------------------------------------------
def _sources(root: Path) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted((root / "stream_server").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _constant(node: ast.expr | None) -> Any:
    return node.value if isinstance(node, ast.Constant) else None


def _error_classes(modules: Iterable[ast.Module]) -> dict[str, tuple[int, str]]:
    """``KohtaamoError`` and its subclasses: name → (HTTP status, default code)."""
    classes: dict[str, tuple[int, str]] = {"KohtaamoError": (400, "bad_request")}
    defs = [n for m in modules for n in ast.walk(m) if isinstance(n, ast.ClassDef)]
    changed = True
    while changed:  # a subclass may be declared before its base is known
        changed = False
        for cls in defs:
            bases = [_name(b) for b in cls.bases]
            parent = next((classes[b] for b in bases if b in classes), None)
            if parent is None or cls.name in classes:
                continue
            status, code = parent
            for stmt in cls.body:
                if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                    target = _name(stmt.targets[0])
                    if target == "status":
                        status = _constant(stmt.value)
                    elif target == "code":
                        code = _constant(stmt.value)
            classes[cls.name] = (status, code)
            changed = True
    names = [cls.name for cls in defs if cls.name in classes]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        # The scan knows classes by name: two of one name would hide one's status and code.
        raise DocsError(f"error classes declared twice: {', '.join(twice)}")
    return classes


#: Exceptions that carry a code and that a handler turns into an HTTP error of this status.
CONVERTED_ERRORS = {"ReportError": 400}
#: Keyword arguments that name the code of an error a helper raises, and its status.
CODE_KEYWORDS = {"too_large_code": 413}


def http_error_codes(root: Path = PROJECT_ROOT) -> dict[str, frozenset[int]]:
    """Every code an HTTP answer's ``{"error": {"code": …}}`` can carry, with its statuses.

    Read from the source: each call of a ``KohtaamoError`` class (its ``code=`` or the class's
    own), the codes of :data:`CONVERTED_ERRORS`, a ``code=`` handed to a helper (status
    unknown: an empty set), literal ``{"error": {"code": …}}`` bodies, and the error
    middleware's own codes.
    """
    parsed = list(_sources(root))
    classes = _error_classes(m for _, m in parsed)
    found: dict[str, set[int]] = {}

    def add(code: Any, status: int | None) -> None:
        if isinstance(code, str):
            found.setdefault(code, set())
            if status is not None:
                found[code].add(status)

    for path, module in parsed:
        if path.name == "i18n.py":
            continue
        for node in ast.walk(module):
            if isinstance(node, ast.ClassDef) and node.name in classes:
                add(classes[node.name][1], classes[node.name][0])
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if _constant(key) == "error" and isinstance(value, ast.Dict):
                        codes = [
                            _constant(v)
                            for k, v in zip(value.keys, value.values, strict=True)
                            if _constant(k) == "code"
                        ]
                        for code in codes:
                            add(code, None)
            if not isinstance(node, ast.Call):
                continue
            func = _name(node.func)
            keywords = {k.arg: k.value for k in node.keywords if k.arg}
            if func in classes:
                status, default = classes[func]
                code = _constant(keywords["code"]) if "code" in keywords else default
                add(code, status)
            elif func in CONVERTED_ERRORS and node.args:
                add(_constant(node.args[0]), CONVERTED_ERRORS[func])
            elif func == "json_response" and node.args:
                status = _constant(keywords.get("status"))
                body = node.args[0]
                if isinstance(body, ast.Dict):
                    for key, value in zip(body.keys, body.values, strict=True):
                        if _constant(key) == "error" and isinstance(value, ast.Dict):
                            for k, v in zip(value.keys, value.values, strict=True):
                                if _constant(k) == "code":
                                    add(_constant(v), status)
            else:
                add(_constant(keywords.get("code")), None)
            for keyword, status in CODE_KEYWORDS.items():
                add(_constant(keywords.get(keyword)), status)
    for status, code in FALLBACK_CODES.items():
        add(code, status)
    add(INTERNAL_ERROR, 500)
    add("http_error", None)
    return {code: frozenset(statuses) for code, statuses in sorted(found.items())}


def signaling_error_codes(root: Path = PROJECT_ROOT) -> frozenset[str]:
    """The codes the signaling layer itself sends in ``{"type": "error"}``: every
    ``ProtocolError(code, …)`` and every ``refused(code, …)`` in the source."""
    codes = set()
    for _, module in _sources(root):
        for node in ast.walk(module):
            if isinstance(node, ast.Call) and _name(node.func) in ("ProtocolError", "refused"):
                code = _constant(node.args[0]) if node.args else None
                if isinstance(code, str):
                    codes.add(code)
    return frozenset(codes)


def status_label(statuses: frozenset[int]) -> str:
    return ", ".join(str(s) for s in sorted(statuses)) if statuses else "varies"


def http_errors_table(codes: Mapping[str, frozenset[int]], meanings: Mapping[str, str]) -> Table:
    """``docs/api.md``'s error codes: code and status from the source, the meaning from the
    document (a new code gets an empty meaning, which the check refuses)."""
    rows = tuple(
        (f"`{code}`", status_label(statuses), meanings.get(f"`{code}`", ""))
        for code, statuses in codes.items()
    )
    return Table("http-error-codes", API, ("code", "HTTP status", "what it means"), rows)


def http_error_problems(expected: Table, documented: Table, key: str) -> list[str]:
    """Like :func:`row_problems`, with the meaning written by a person: it must only exist."""
    meanings = {k: row[2] if len(row) > 2 else "" for k, row in documented.by_key().items()}
    if key in documented.by_key() and not meanings[key]:
        return [f"{key}: no meaning written in {documented.path}"]
    wanted = dataclasses.replace(
        expected,
        rows=tuple((*row[:2], meanings.get(row[0], "")) for row in expected.rows),
    )
    return row_problems(wanted, documented, key)


def documented_signaling_codes(text: str) -> set[str]:
    """The codes listed under "## Error codes" in docs/signaling.md (explanations, in
    parentheses, may name other things in backticks)."""
    if "## Error codes" not in text:
        return set()
    section = text.split("## Error codes", 1)[1].split("\n## ", 1)[0]
    section = re.sub(r"\([^)]*\)", "", section)
    return set(re.findall(r"`([a-z_]+)`", section))


# -- routes and commands ------------------------------------------------------------------------
def app_routes() -> list[tuple[str, str]]:
    """Every (method, path) of the app's router; HEAD is GET's twin and not listed."""
    from stream_server.app import create_app

    app = create_app(Settings())
    routes = set()
    for route in app.router.routes():
        if route.method != "HEAD" and route.resource is not None:
            routes.add((route.method, route.resource.canonical))
    return sorted(routes, key=lambda r: (r[1], r[0]))


def documented_routes(text: str) -> set[tuple[str, str]]:
    """Routes named as ```METHOD /path``` in a document."""
    methods = "|".join(HTTP_METHODS)
    return {(m, p) for m, p in re.findall(rf"`({methods}) (/[^`\s?]*)", text)}


def command_paths(parser: argparse.ArgumentParser) -> list[tuple[str, ...]]:
    """Every subcommand that does something (``("db", "upgrade")``…), leaves only."""
    paths: list[tuple[str, ...]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                below = command_paths(sub)
                paths += [(name, *rest) for rest in below] if below else [(name,)]
    return paths


def command_rows(parser: argparse.ArgumentParser, prefix: str) -> list[tuple[str, str]]:
    """``(usage, help)`` of every leaf subcommand, e.g. ``("kohtaamo db backup FILE", …)``."""
    rows: list[tuple[str, str]] = []
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
        for name, sub in action.choices.items():
            below = command_rows(sub, f"{prefix} {name}")
            if below:
                rows += below
                continue
            positionals = [
                (a.metavar or a.dest).upper()
                for a in sub._actions
                if not a.option_strings and not isinstance(a, argparse._SubParsersAction)
            ]
            usage = " ".join([prefix, name, *positionals])
            rows.append((usage, helps.get(name, "")))
    return rows


def commands_table() -> Table:
    """``docs/operations.md``'s list of commands, from the two programs' parsers (their
    ``help=`` texts: a command without one fails the docs test)."""
    from kiosk_client.cli import build_parser as kiosk_parser
    from stream_server.cli import build_parser

    rows = command_rows(build_parser(), "kohtaamo") + command_rows(kiosk_parser(), "kohtaamo-kiosk")
    return Table(
        "commands",
        OPERATIONS,
        ("command", "what it does"),
        tuple((f"`{usage}`", help_text) for usage, help_text in rows),
    )


def documented_command(text: str, program: str, path: Sequence[str]) -> bool:
    """Whether ``program path…`` appears in ``text`` (as ``kohtaamo db backup FILE``)."""
    words = r"\s+".join(re.escape(w) for w in (program, *path))
    return re.search(rf"(?<![\w-]){words}(?![\w-])", text) is not None


# -- links --------------------------------------------------------------------------------------
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def headings(text: str) -> list[tuple[int, str, str]]:
    """``(level, title, anchor)`` of a Markdown file's headings, with the anchors GitHub
    makes of them (code blocks skipped)."""
    found: list[tuple[int, str, str]] = []
    seen: dict[str, int] = {}
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if fenced or not line.startswith("#"):
            continue
        title = line.lstrip("#").strip()
        slug = re.sub(r"[^\w\- ]", "", title.lower().replace("`", "")).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        level = len(line) - len(line.lstrip("#"))
        found.append((level, title, slug if count == 0 else f"{slug}-{count}"))
    return found


def heading_anchors(text: str) -> set[str]:
    return {anchor for _, _, anchor in headings(text)}


def contents(text: str) -> str:
    """A page's table of contents: a link to each of its ``##`` sections."""
    return "\n".join(
        f"- [{title}](#{anchor})" for level, title, anchor in headings(text) if level == 2
    )


def broken_links(path: Path, text: str, root: Path) -> list[str]:
    """Relative links in ``text`` (the file at ``path``, relative to ``root``) whose file or
    ``#anchor`` does not exist; web addresses are not followed."""
    problems = []
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            fenced = not fenced
        if fenced:
            continue
        for target in _LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue
            file_part, _, anchor = target.partition("#")
            linked = (root / path).parent / file_part if file_part else root / path
            where = f"{path}:{number}: {target}"
            if not linked.exists():
                problems.append(f"{where}: no such file")
            elif anchor and linked.suffix == ".md":
                anchors = heading_anchors(linked.read_text(encoding="utf-8"))
                if anchor not in anchors:
                    problems.append(f"{where}: no heading #{anchor}")
    return problems


# -- writing ------------------------------------------------------------------------------------
def generated_tables(docs_root: Path = PROJECT_ROOT, source: Path = PROJECT_ROOT) -> list[Table]:
    """Every generated table, as the code declares it now (meanings of error codes are kept
    from ``docs_root``'s api.md; codes are read from ``source``)."""
    api_text = (docs_root / API).read_text(encoding="utf-8")
    placeholder = Table("http-error-codes", API, (), ())
    try:
        documented = documented_table(api_text, placeholder).by_key()
    except DocsError:
        documented = {}
    meanings = {key: row[2] for key, row in documented.items() if len(row) > 2}
    return [
        settings_table(),
        kiosk_settings_table(),
        commands_table(),
        close_codes_table(),
        http_errors_table(http_error_codes(source), meanings),
    ]


def write_tables(docs_root: Path = PROJECT_ROOT, source: Path = PROJECT_ROOT) -> list[Path]:
    """Rewrite every generated table, and every page's contents, in place; the files that
    changed."""
    changed = []
    for table in generated_tables(docs_root, source):
        path = docs_root / table.path
        text = path.read_text(encoding="utf-8")
        new = replace_block(text, table.name, table.render())
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(table.path)
    for page in PAGES:
        path = docs_root / page
        text = path.read_text(encoding="utf-8")
        if begin_marker("contents") in text:
            new = replace_block(text, "contents", contents(text))
            if new != text:
                path.write_text(new, encoding="utf-8")
                changed.append(page)
    return changed


def stale_tables(docs_root: Path = PROJECT_ROOT, source: Path = PROJECT_ROOT) -> list[str]:
    """Generated tables whose text differs from what ``--write`` would make."""
    stale = []
    for table in generated_tables(docs_root, source):
        text = (docs_root / table.path).read_text(encoding="utf-8")
        try:
            if read_block(text, table.name) != table.render():
                stale.append(f"{table.path}: {table.name}")
        except DocsError as exc:
            stale.append(f"{table.path}: {exc}")
    for page in PAGES:
        text = (docs_root / page).read_text(encoding="utf-8")
        if begin_marker("contents") in text and read_block(text, "contents") != contents(text):
            stale.append(f"{page}: contents")
    return stale
