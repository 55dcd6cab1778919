"""User-facing text as gettext catalogs, one per language; Finnish is the source and fallback.

The catalogs are ``locale/<lang>/LC_MESSAGES/messages.po`` next to this module, with symbolic
message ids (``join.button``). They are compiled in memory when loaded (no ``.mo`` files on
disk that could go stale), so the supported languages are the catalogs present: adding a
language is adding a catalog, and whatever it lacks is shown in Finnish. A message that takes
a number is a plural entry chosen by its ``{count}``. Dates and times are formatted by Babel
in the city's time zone. Pages, page scripts (:meth:`Catalogs.messages_for`), JSON errors and
the CLI all go through :class:`Translator`. docs/translations.md tells how to add a message.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel import Locale
from babel import dates as babel_dates
from babel.messages.catalog import Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from stream_server.basics import CITY_TZ

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DEFAULT_LANGUAGE = "fi"
#: The parameter that picks a plural form: ``_("kiosk.headcount_saved", count=3)``.
PLURAL_PARAMETER = "count"
#: A language whose dates and plural rules follow one region: British English, as the
#: page scripts' ``Intl`` formats. Any other language uses its own Babel locale.
LOCALE_OF_LANGUAGE = {"en": "en_GB"}

#: Error codes of docs/signaling.md; a test checks the document and this list agree.
PROTOCOL_ERROR_CODES = (
    "invalid_json",
    "invalid_message",
    "unknown_type",
    "too_large",
    "rate_limited",
    "not_joined",
    "already_joined",
    "unknown_session",
    "join_code_required",
    "join_code_invalid",
    "token_invalid",
    "session_full",
    "session_ended",
    "session_cancelled",
    "not_online",
    "not_started",
    "not_allowed",
    "invalid_sdp",
    "unexpected_answer",
    "replaced",
    "silent",
    "device_token_required",
    "device_token_invalid",
    "device_revoked",
    "device_not_allowed",
    "not_host",
    "unknown_participant",
    "removed",
    "recording_disabled",
    "recording_group_unsupported",
    "session_not_live",
    "media_ports_exhausted",
    "server_busy",
    "host_token_required",
    "media_timeout",
    "chat_disabled",
    "unknown_message",
    "server_stopping",
)

_LANGUAGE_RANGE = re.compile(r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;(.*))?$")


def catalog_path(locale_dir: Path, language: str) -> Path:
    return locale_dir / language / "LC_MESSAGES" / "messages.po"


def message_key(message: Message) -> str:
    """A catalog entry's id; a plural entry's id is the pair (singular, plural)."""
    return str(message.id[0] if isinstance(message.id, tuple | list) else message.id)


@dataclass(frozen=True)
class Language:
    """One compiled catalog: its texts, and the Babel locale for its dates and plurals."""

    code: str
    locale: Locale
    translations: Translations
    plural_ids: frozenset[str]
    ids: frozenset[str]


def compile_catalog(path: Path, code: str) -> Language:
    """Read a ``.po`` file and compile it in memory (about 10 ms for 400 messages).

    Untranslated, partly translated and fuzzy entries are left out, so gettext falls back
    to Finnish for them instead of showing an empty string.
    """
    locale_name = LOCALE_OF_LANGUAGE.get(code, code)
    with path.open("rb") as file:
        catalog = read_po(file, locale=locale_name)
    for message in list(catalog):
        texts = (message.string,) if isinstance(message.string, str) else message.string
        if message.id and (not texts or not all(texts) or message.fuzzy):
            del catalog[message.id]
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    ids = {message_key(message) for message in catalog if message.id}
    plural = {message_key(message) for message in catalog if message.id and message.pluralizable}
    return Language(
        code=code,
        locale=Locale.parse(locale_name),
        translations=Translations(fp=buffer),
        plural_ids=frozenset(plural),
        ids=frozenset(ids),
    )


class Catalogs:
    """The languages found in one locale directory, Finnish first and the fallback of all."""

    def __init__(self, languages: dict[str, Language]) -> None:
        if DEFAULT_LANGUAGE not in languages:
            raise ValueError(f"no {DEFAULT_LANGUAGE} catalog: it is every language's fallback")
        source = languages[DEFAULT_LANGUAGE]
        for language in languages.values():
            if language is not source:
                language.translations.add_fallback(source.translations)
        self._languages = languages
        self._source = source
        self._script_messages: dict[str, dict[str, str | dict[str, str]]] = {}
        others = sorted(code for code in languages if code != DEFAULT_LANGUAGE)
        self.languages: tuple[str, ...] = (DEFAULT_LANGUAGE, *others)

    @classmethod
    def load(cls, locale_dir: Path = LOCALE_DIR) -> Catalogs:
        paths = sorted(locale_dir.glob("*/LC_MESSAGES/messages.po"))
        return cls({p.parent.parent.name: compile_catalog(p, p.parent.parent.name) for p in paths})

    @property
    def message_ids(self) -> frozenset[str]:
        return self._source.ids

    def is_plural(self, message_id: str) -> bool:
        return message_id in self._source.plural_ids

    def supported(self, lang: str | None) -> str | None:
        """The language of a tag (``en-GB`` -> ``en``) if there is a catalog for it."""
        if not lang:
            return None
        primary = lang.strip().lower().split("-", 1)[0]
        return primary if primary in self._languages else None

    def negotiate(self, query_lang: str | None, accept_language: str | None) -> str:
        """``?lang=`` wins (a person chose it), then the browser's preference, else Finnish."""
        chosen = self.supported(query_lang)
        if chosen:
            return chosen
        best: tuple[float, int, str] | None = None
        for position, item in enumerate((accept_language or "").split(",")):
            match = _LANGUAGE_RANGE.match(item)
            if not match:
                continue
            quality = 1.0
            for param in (match.group(2) or "").split(";"):
                name, _, value = param.partition("=")
                if name.strip().lower() == "q":
                    try:
                        quality = float(value)
                    except ValueError:
                        quality = 0.0
            lang = self.supported(match.group(1))
            if lang is None or quality <= 0:
                continue
            # Highest quality first; among equals the earlier one (the browser's order).
            if best is None or (quality, -position) > (best[0], best[1]):
                best = (quality, -position, lang)
        return best[2] if best else DEFAULT_LANGUAGE

    def translator(self, lang: str) -> Translator:
        return Translator(self, self._languages.get(lang, self._source))

    def translate(self, message_id: str, lang: str, **params: Any) -> str:
        return self.translator(lang)(message_id, **params)

    def messages_for(self, lang: str) -> dict[str, str | dict[str, str]]:
        """The whole catalog in one language for the page scripts, unformatted.

        A plural message is ``{"one": ..., "other": ...}`` keyed by the language's CLDR
        plural categories, which the scripts pick with ``Intl.PluralRules``.
        """
        translator = self.translator(lang)
        code = translator.lang
        if code not in self._script_messages:
            self._script_messages[code] = {
                message_id: translator.plural_texts(message_id)
                if self.is_plural(message_id)
                else translator.raw(message_id)
                for message_id in sorted(self.message_ids)
            }
        return self._script_messages[code]


class Translator:
    """``_("id", name=value)`` in templates, handlers and the CLI, bound to one language.

    It also formats dates and times, so a page shows them in the language of its text.
    """

    def __init__(self, catalogs: Catalogs, language: Language) -> None:
        self._catalogs = catalogs
        self._language = language
        self.lang = language.code
        self.locale = language.locale

    def has(self, message_id: str) -> bool:
        return message_id in self._catalogs.message_ids

    def raw(self, message_id: str, count: int | None = None) -> str:
        """The text before placeholders are filled; a missing id is a bug (``KeyError``)."""
        if not self.has(message_id):
            raise KeyError(message_id)
        translations = self._language.translations
        if self._catalogs.is_plural(message_id):
            if count is None:
                raise TypeError(f"{message_id} is a plural message: give {PLURAL_PARAMETER}=")
            text: str = translations.ngettext(message_id, message_id, count)
            return text
        return str(translations.gettext(message_id))

    def __call__(self, message_id: str, **params: Any) -> str:
        count = params.get(PLURAL_PARAMETER)
        text = self.raw(message_id, int(count) if count is not None else None)
        return text.format(**params) if params else text

    def messages(self) -> dict[str, str | dict[str, str]]:
        """The whole catalog for the page scripts (:meth:`Catalogs.messages_for`)."""
        return self._catalogs.messages_for(self.lang)

    def plural_texts(self, message_id: str) -> dict[str, str]:
        """Each CLDR plural category of this language with the form gettext picks for it."""
        return {
            category: self.raw(message_id, number)
            for category, number in _plural_samples(self.locale)
        }

    def datetime(self, moment: dt.datetime, now: dt.datetime | None = None) -> str:
        """A start time as people read it: ``ti 1.12. klo 18.00`` / ``Tue 1 Dec at 18:00``.

        In the city's time zone, whatever the server's; the year only when it is not this one.
        """
        local = moment.astimezone(CITY_TZ)
        this_year = (now or dt.datetime.now(dt.UTC)).astimezone(CITY_TZ).year
        skeleton = "MMMEd" if local.year == this_year else "yMMMEd"
        day = babel_dates.format_skeleton(skeleton, local, locale=self.locale)
        return self("time.date_at_time", date=day, time=self.time(moment))

    def time(self, moment: dt.datetime) -> str:
        """A clock time alone (the end of a session): ``19.30`` / ``19:30``."""
        return str(
            babel_dates.format_skeleton("Hm", moment.astimezone(CITY_TZ), locale=self.locale)
        )

    def day(self, day: dt.date) -> str:
        """A day as a heading: ``pe 4. joulukuuta`` / ``Friday 4 December``."""
        return str(babel_dates.format_skeleton("MMMMEEEEd", day, locale=self.locale))

    def weekday_date(self, day: dt.date) -> str:
        """A day in a sentence: ``pe 4.12.`` / ``Fri 4 Dec``."""
        return str(babel_dates.format_skeleton("MMMEd", day, locale=self.locale))

    def date(self, day: dt.date) -> str:
        """A date with its year: ``1.11.2026`` / ``1 Nov 2026``."""
        return str(babel_dates.format_skeleton("yMMMd", day, locale=self.locale))

    def short_date(self, day: dt.date, today: dt.date) -> str:
        """A date in a sentence, its year only when not this one: ``31.5.`` / ``31 May``."""
        skeleton = "MMMd" if day.year == today.year else "yMMMd"
        return str(babel_dates.format_skeleton(skeleton, day, locale=self.locale))

    def month(self, year: int, month: int) -> str:
        """A month of a report: ``marraskuu 2025`` / ``November 2025``."""
        first = dt.date(year, month, 1)
        return str(babel_dates.format_skeleton("yMMMM", first, locale=self.locale))


@functools.cache
def _plural_samples(locale: Locale) -> tuple[tuple[str, int], ...]:
    """A whole number for each plural category a count can fall in (``one``: 1, ...)."""
    seen: dict[str, int] = {}
    for number in range(1001):
        seen.setdefault(locale.plural_form(number), number)
    return tuple(seen.items())


@functools.cache
def default_catalogs() -> Catalogs:
    """The catalogs shipped with Kohtaamo, compiled once for code without an app at hand."""
    return Catalogs.load(LOCALE_DIR)


def translator(lang: str) -> Translator:
    """A translator on the shipped catalogs (the CLI, reports, tests)."""
    return default_catalogs().translator(lang)


def translate(message_id: str, lang: str, **params: Any) -> str:
    return default_catalogs().translate(message_id, lang, **params)


def negotiate_language(query_lang: str | None, accept_language: str | None) -> str:
    return default_catalogs().negotiate(query_lang, accept_language)
