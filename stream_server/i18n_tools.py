"""Maintaining the gettext catalogs: convert the old message dict, start a language, check.

``python -m stream_server.i18n_tools from-dict OLD_i18n.py [--base BASE_i18n.py]`` reads a
``MESSAGES = {"id": {"fi": ..., "en": ...}}`` dict from a Python file (parsed, never imported)
and writes its messages into the ``.po`` files. Branches made before the catalogs existed add
messages to that dict; after a merge, this turns them into catalog entries. With ``--base``
(the dict as it was where the branch started) only the messages the branch added or changed
are written, so plural forms made in the catalogs since are not overwritten.

``init LANG`` starts a catalog with every id and no translations (Finnish is shown in a
comment); ``check`` lists what :func:`catalog_problems` finds and exits 1 if anything.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import re
import string
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po, write_po

from stream_server.i18n import (
    DEFAULT_LANGUAGE,
    LOCALE_DIR,
    LOCALE_OF_LANGUAGE,
    PLURAL_PARAMETER,
    catalog_path,
    message_key,
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a catalog, as a translator should read it."""

    language: str
    message_id: str
    reason: str

    def __str__(self) -> str:
        return f"{self.language}: {self.message_id}: {self.reason}"


def placeholders(text: str) -> frozenset[str]:
    """The ``{name}`` fields of a message (``str.format`` syntax, as the code fills them)."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)


def forms(message: Message) -> tuple[str, ...]:
    """A message's translations: one for a plain message, one per plural form otherwise."""
    if isinstance(message.string, str):
        return (message.string,)
    return tuple(message.string or ())


def read_catalogs(locale_dir: Path = LOCALE_DIR) -> dict[str, Catalog]:
    """Every ``<lang>/LC_MESSAGES/messages.po`` under ``locale_dir``, by language."""
    found: dict[str, Catalog] = {}
    for path in sorted(locale_dir.glob("*/LC_MESSAGES/messages.po")):
        language = path.parent.parent.name
        with path.open("rb") as file:
            found[language] = read_po(file, locale=LOCALE_OF_LANGUAGE.get(language, language))
    return found


def catalog_problems(catalogs: Mapping[str, Catalog]) -> list[Problem]:
    """What would show a person a wrong, broken or Finnish-instead-of-translated text.

    Finnish is the source: every other catalog must have each Finnish id, the same
    placeholders in every form, and every plural form its language needs. A plural message
    is chosen by its ``{count}``, so it must have one.
    """
    source = catalogs.get(DEFAULT_LANGUAGE)
    if source is None:
        return [Problem(DEFAULT_LANGUAGE, "*", "the Finnish catalog is missing")]
    problems: list[Problem] = []
    for language, catalog in catalogs.items():
        wanted = catalog.num_plurals
        for message in catalog:
            if message.id and message_key(message) not in source:
                problems.append(
                    Problem(language, message_key(message), "not in the Finnish catalog")
                )
        for original in source:
            if not original.id:
                continue
            message_id = message_key(original)
            expected = placeholders(forms(original)[0])
            found = catalog.get(message_id)
            if found is None or not any(forms(found)):
                problems.append(Problem(language, message_id, "missing"))
                continue
            message = found
            if message.fuzzy:
                problems.append(Problem(language, message_id, "fuzzy (not used until reviewed)"))
            if message.pluralizable != original.pluralizable:
                kind = "plural" if original.pluralizable else "not plural"
                problems.append(Problem(language, message_id, f"must be {kind}, as in Finnish"))
                continue
            texts = forms(message)
            if message.pluralizable:
                if PLURAL_PARAMETER not in expected:
                    problems.append(Problem(language, message_id, "plural without {count}"))
                if len(texts) != wanted or not all(texts):
                    problems.append(
                        Problem(
                            language,
                            message_id,
                            f"has {sum(1 for t in texts if t)} of {wanted} plural forms",
                        )
                    )
            for text in texts:
                got = placeholders(text)
                if text and got != expected:
                    problems.append(
                        Problem(
                            language,
                            message_id,
                            f"placeholders {sorted(got)} differ from Finnish {sorted(expected)}",
                        )
                    )
    return problems


#: A message id named literally in code: ``_(`` or ``tr(`` in Python and templates,
#: ``translate(``, ``translator(request)(``, and ``t(`` or ``messages[`` in the page scripts,
#: followed by a quoted dotted id. Ids built at run time (``f"mode.{mode}"``) are not
#: found here; their families have their own tests.
LITERAL_ID = re.compile(
    r"""(?:\b(?:_|t|tr|translate)\(|\)\(|\bmessages\[)\s*["']([a-z][a-z0-9_]*(?:\.[a-z0-9_-]+)+)["']"""
)
SOURCE_SUFFIXES = (".py", ".html", ".js")


def used_message_ids(roots: Iterable[Path]) -> dict[str, list[str]]:
    """Every message id named literally under ``roots``, with where (``path:line``)."""
    found: dict[str, list[str]] = {}
    for root in roots:
        paths = [root] if root.is_file() else sorted(root.rglob("*"))
        for path in paths:
            if path.suffix not in SOURCE_SUFFIXES or "vendor" in path.parts:
                continue
            text = path.read_text(encoding="utf-8")
            for match in LITERAL_ID.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.setdefault(match.group(1), []).append(f"{path}:{line}")
    return found


def read_message_dict(path: Path) -> dict[str, dict[str, str]]:
    """The ``MESSAGES`` dict of a Python file, without importing (or running) it."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        target = None
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            target, value = node.target.id, node.value
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0].id, node.value
        if target == "MESSAGES" and value is not None:
            messages = ast.literal_eval(value)
            assert isinstance(messages, dict)
            return messages
    raise ValueError(f"{path}: no MESSAGES = {{...}} dict")


def new_catalog(language: str) -> Catalog:
    """An empty catalog with the headers (Plural-Forms from the language's locale)."""
    return Catalog(
        locale=LOCALE_OF_LANGUAGE.get(language, language),
        project="Kohtaamo",
        version="1",
        copyright_holder="Kohtaamo",
        msgid_bugs_address="",
        last_translator="Kohtaamo",
        language_team="Kohtaamo",
        header_comment=(
            f"# Kohtaamo's messages in {language}; Finnish (fi) is the source.\n"
            "# How to edit and add messages: docs/translations.md."
        ),
        creation_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        revision_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        fuzzy=False,
    )


def write_catalog(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        write_po(file, catalog, width=100, omit_header=False)


def add_messages(
    catalogs: dict[str, Catalog], messages: Mapping[str, Mapping[str, str]], ids: Iterable[str]
) -> list[str]:
    """Write ``ids`` of the old dict into the catalogs; returns notes for a person to act on.

    A message with ``{count}`` becomes a plural entry with the same text in every form: it
    works at once, and the note asks for the singular to be written.
    """
    notes = []
    for message_id in ids:
        entry = messages[message_id]
        plural = PLURAL_PARAMETER in placeholders(entry.get(DEFAULT_LANGUAGE, ""))
        if plural:
            notes.append(f"{message_id}: takes {{count}}; write its singular forms by hand")
        for language, text in entry.items():
            catalog = catalogs.setdefault(language, new_catalog(language))
            if message_id in catalog:
                del catalog[message_id]  # Babel's catalog[id] = ... keeps an old text
            if plural:
                catalog[message_id] = Message(
                    (message_id, message_id), tuple(text for _ in range(catalog.num_plurals))
                )
            else:
                catalog[message_id] = Message(message_id, text)
    return notes


def _from_dict(args: argparse.Namespace) -> int:
    locale_dir = Path(args.locale_dir)
    messages = read_message_dict(Path(args.file))
    catalogs = read_catalogs(locale_dir)
    source = catalogs.get(DEFAULT_LANGUAGE)
    if args.base:
        base = read_message_dict(Path(args.base))
        ids = [key for key, entry in messages.items() if base.get(key) != entry]
    else:
        ids = [key for key in messages if source is None or key not in source]
    notes = add_messages(catalogs, messages, ids)
    for language, catalog in catalogs.items():
        write_catalog(catalog, catalog_path(locale_dir, language))
    print(f"{len(ids)} message(s) written: {', '.join(ids) or '-'}")
    for note in notes:
        print(f"note: {note}")
    return 0


def _init(args: argparse.Namespace) -> int:
    locale_dir = Path(args.locale_dir)
    path = catalog_path(locale_dir, args.language)
    if path.exists():
        print(f"error: {path} exists", file=sys.stderr)
        return 1
    source = read_catalogs(locale_dir)[DEFAULT_LANGUAGE]
    catalog = new_catalog(args.language)
    for original in source:
        if not original.id:
            continue
        fi_text = " | ".join(forms(original))
        empty = tuple("" for _ in range(catalog.num_plurals)) if original.pluralizable else ""
        catalog[message_key(original)] = Message(
            original.id, empty, auto_comments=[f"fi: {fi_text}"]
        )
    write_catalog(catalog, path)
    print(f"{path}: {len(catalog)} messages to translate")
    return 0


def _check(args: argparse.Namespace) -> int:
    problems = catalog_problems(read_catalogs(Path(args.locale_dir)))
    for problem in problems:
        print(problem)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stream_server.i18n_tools")
    parser.add_argument("--locale-dir", default=str(LOCALE_DIR))
    commands = parser.add_subparsers(dest="command", required=True)
    convert = commands.add_parser("from-dict", help="write an old MESSAGES dict into the catalogs")
    convert.add_argument("file", help="a Python file with MESSAGES = {...}")
    convert.add_argument("--base", help="the same file where the branch began: only its changes")
    convert.set_defaults(run=_from_dict)
    init = commands.add_parser("init", help="start a catalog for a new language")
    init.add_argument("language", help="a language code, e.g. sv")
    init.set_defaults(run=_init)
    check = commands.add_parser("check", help="list missing, broken or incomplete translations")
    check.set_defaults(run=_check)
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
