"""User-facing text in Finnish (the default) and English: one catalogue for pages and scripts.

Every string a person reads goes through :data:`MESSAGES`, so the Finnish and English
pages cannot drift apart. The page scripts get the same catalogue as JSON
(:func:`messages_for`); protocol error codes are keyed ``error.<code>``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

LANGUAGES = ("fi", "en")
DEFAULT_LANGUAGE = "fi"
CITY_TZ = ZoneInfo("Europe/Helsinki")

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
    "not_started",
    "not_allowed",
    "invalid_sdp",
    "unexpected_answer",
    "replaced",
    "silent",
)

MESSAGES: dict[str, dict[str, str]] = {
    # -- the frame of every page -------------------------------------------------------------
    "site.name": {"fi": "Kohtaamo", "en": "Kohtaamo"},
    "site.tagline": {
        "fi": "Kuopion kirjastojen tapahtumat etänä",
        "en": "Kuopio library events, from home",
    },
    "site.skip": {"fi": "Siirry sisältöön", "en": "Skip to content"},
    "site.language_nav": {"fi": "Kielen valinta", "en": "Language"},
    "site.switch_language": {"fi": "In English", "en": "Suomeksi"},
    "site.all_sessions": {"fi": "Kaikki tapahtumat", "en": "All sessions"},
    "site.footer": {
        "fi": "Kuopion kaupunginkirjasto · Liittyessä ei kysytä nimeä.",
        "en": "Kuopio City Library · Nobody asks for your name when you join.",
    },
    # -- list of sessions --------------------------------------------------------------------
    "index.title": {"fi": "Tapahtumat", "en": "Sessions"},
    "index.heading": {"fi": "Käynnissä ja tulossa", "en": "Live and upcoming"},
    "index.empty": {
        "fi": "Juuri nyt ei ole käynnissä tai tulossa julkisia tapahtumia.",
        "en": "There are no live or upcoming public sessions right now.",
    },
    "index.live": {"fi": "Käynnissä nyt", "en": "Live now"},
    "index.upcoming": {"fi": "Tulossa", "en": "Upcoming"},
    "index.code_heading": {"fi": "Onko sinulla liittymiskoodi?", "en": "Do you have a join code?"},
    "index.code_label": {"fi": "Liittymiskoodi", "en": "Join code"},
    "index.code_hint": {
        "fi": "8 merkkiä, esimerkiksi K7QP 2MXA",
        "en": "8 characters, for example K7QP 2MXA",
    },
    "index.code_submit": {"fi": "Jatka", "en": "Continue"},
    # -- a session's details -----------------------------------------------------------------
    "session.when": {"fi": "Aika", "en": "When"},
    "session.where": {"fi": "Paikka", "en": "Where"},
    "session.organiser": {"fi": "Järjestäjä", "en": "Organiser"},
    "session.details": {"fi": "Tapahtuman tiedot", "en": "About the session"},
    "mode.broadcast": {"fi": "Luento", "en": "Lecture"},
    "mode.group": {"fi": "Ryhmä", "en": "Group"},
    "time.range": {"fi": "{start}–{end}", "en": "{start}–{end}"},
    # -- the join page -----------------------------------------------------------------------
    "join.button": {"fi": "Liity", "en": "Join"},
    "join.hint": {
        "fi": "Kamera ja mikrofoni pysyvät pois päältä, kunnes itse laitat ne päälle.",
        "en": "Your camera and microphone stay off until you turn them on yourself.",
    },
    "join.broadcast_hint": {
        "fi": "Voit katsoa ja kuunnella. Sinua ei näy eikä kuulu.",
        "en": "You can watch and listen. Nobody can see or hear you.",
    },
    "join.group_hint": {
        "fi": "Voit halutessasi osallistua kameralla ja mikrofonilla.",
        "en": "If you wish, you can take part with your camera and microphone.",
    },
    "call.stage": {"fi": "Lähetys", "en": "Stream"},
    "call.controls": {"fi": "Painikkeet", "en": "Controls"},
    "call.mic_on": {"fi": "Mikrofoni päälle", "en": "Turn microphone on"},
    "call.mic_off": {"fi": "Mikrofoni pois", "en": "Turn microphone off"},
    "call.camera_on": {"fi": "Kamera päälle", "en": "Turn camera on"},
    "call.camera_off": {"fi": "Kamera pois", "en": "Turn camera off"},
    "call.leave": {"fi": "Poistu", "en": "Leave"},
    "call.you": {"fi": "Sinä", "en": "You"},
    "call.presenter": {"fi": "Esiintyjä", "en": "Presenter"},
    "call.participant": {"fi": "Osallistuja {n}", "en": "Participant {n}"},
    "call.screen": {"fi": "Jaettu näyttö", "en": "Shared screen"},
    "call.muted": {"fi": "mikrofoni pois", "en": "microphone off"},
    "call.waiting": {
        "fi": "Odotetaan, että lähetys alkaa…",
        "en": "Waiting for the stream to start…",
    },
    "call.tap_for_sound": {"fi": "Napauta, niin ääni kuuluu", "en": "Tap to hear the sound"},
    "call.audio_only": {"fi": "Vain ääni", "en": "Audio only"},
    "call.lower_quality": {"fi": "Kevyempi kuva", "en": "Lower quality"},
    "status.audio_only_on": {
        "fi": "Vain ääni: kuvaa ei tule, yhteys kevenee.",
        "en": "Audio only: no picture, a lighter connection.",
    },
    "status.audio_only_off": {"fi": "Kuva palaa.", "en": "The picture is back."},
    "status.lower_quality_on": {
        "fi": "Kevyempi kuva on käytössä.",
        "en": "Lower quality picture is on.",
    },
    "status.lower_quality_off": {
        "fi": "Kuva mukautuu taas yhteyteen.",
        "en": "The picture adapts to your connection again.",
    },
    "left.heading": {"fi": "Olet poistunut", "en": "You have left"},
    "left.body": {
        "fi": "Voit liittyä uudelleen milloin tahansa tapahtuman aikana.",
        "en": "You can join again at any time during the session.",
    },
    "left.rejoin": {"fi": "Liity uudelleen", "en": "Join again"},
    # -- status announcements (the aria-live region) ----------------------------------------
    "status.connecting": {"fi": "Yhdistetään…", "en": "Connecting…"},
    "status.connected": {"fi": "Olet mukana.", "en": "You are in."},
    "status.reconnecting": {
        "fi": "Yhteys katkesi. Yhdistetään uudelleen…",
        "en": "The connection was lost. Reconnecting…",
    },
    "status.reconnected": {"fi": "Yhteys palasi.", "en": "The connection is back."},
    "status.mic_on": {"fi": "Mikrofoni on päällä.", "en": "Your microphone is on."},
    "status.mic_off": {"fi": "Mikrofoni on pois päältä.", "en": "Your microphone is off."},
    "status.camera_on": {"fi": "Kamera on päällä.", "en": "Your camera is on."},
    "status.camera_off": {"fi": "Kamera on pois päältä.", "en": "Your camera is off."},
    "status.screen_on": {"fi": "Näyttösi jaetaan.", "en": "Your screen is being shared."},
    "status.screen_off": {"fi": "Näytön jakaminen loppui.", "en": "Screen sharing stopped."},
    "status.media_denied": {
        "fi": "Kameraa tai mikrofonia ei saatu käyttöön. Tarkista laitteen luvat.",
        "en": "The camera or microphone could not be used. Check the device's permissions.",
    },
    "status.left": {"fi": "Olet poistunut tapahtumasta.", "en": "You have left the session."},
    "status.ended": {"fi": "Tapahtuma päättyi.", "en": "The session has ended."},
    # -- whole-page notices ------------------------------------------------------------------
    "upcoming.heading": {"fi": "Tapahtuma ei ole vielä alkanut", "en": "Not started yet"},
    "upcoming.body": {"fi": "Tapahtuma alkaa {when}.", "en": "The session starts {when}."},
    "upcoming.doors": {
        "fi": "Voit liittyä puoli tuntia ennen alkua. Sivu päivittyy itsestään.",
        "en": "You can join half an hour before it starts. This page updates by itself.",
    },
    "ended.heading": {"fi": "Tapahtuma on päättynyt", "en": "This session has ended"},
    "ended.body": {"fi": "Kiitos osallistumisesta!", "en": "Thank you for taking part!"},
    "notfound.title": {"fi": "Tapahtumaa ei löytynyt", "en": "Session not found"},
    "notfound.code_body": {
        "fi": "Tällä liittymiskoodilla ei löytynyt tapahtumaa. Tarkista koodi: "
        "siinä on 8 merkkiä, esimerkiksi K7QP 2MXA.",
        "en": "No session has this join code. Check the code: it has 8 characters, "
        "for example K7QP 2MXA.",
    },
    "notfound.session_body": {
        "fi": "Tapahtumaa ei ole, tai se on yksityinen. Yksityiseen tapahtumaan liitytään "
        "järjestäjältä saadulla liittymiskoodilla.",
        "en": "This session does not exist, or it is private. You join a private session "
        "with the join code the organiser gave you.",
    },
    "forbidden.title": {"fi": "Ei pääsyä", "en": "No access"},
    "forbidden.host_body": {
        "fi": "Esiintyjän linkki on virheellinen. Pyydä järjestäjältä oikea linkki.",
        "en": "The presenter link is not valid. Ask the organiser for the right link.",
    },
    # -- the presenter page ------------------------------------------------------------------
    "host.title": {"fi": "Esiintyjä", "en": "Presenter"},
    "host.connect": {"fi": "Avaa lähetys", "en": "Open the stream"},
    "host.hint": {
        "fi": "Kamera, mikrofoni ja näytön jakaminen käynnistyvät vasta painikkeista.",
        "en": "Camera, microphone and screen sharing start only from the buttons.",
    },
    "host.start_media": {"fi": "Kamera ja mikrofoni päälle", "en": "Start camera and microphone"},
    "host.stop_media": {"fi": "Kamera ja mikrofoni pois", "en": "Stop camera and microphone"},
    "host.share_screen": {"fi": "Jaa näyttö", "en": "Share screen"},
    "host.stop_share": {"fi": "Lopeta jakaminen", "en": "Stop sharing"},
    "host.online_now": {"fi": "Linjoilla nyt", "en": "Online now"},
    "host.preview": {"fi": "Oma kuva", "en": "Your picture"},
    "host.end": {"fi": "Päätä tapahtuma", "en": "End session"},
    "host.end_confirm": {
        "fi": "Päätetäänkö tapahtuma kaikilta? Kaikkien yhteys katkeaa.",
        "en": "End the session for everyone? Everybody will be disconnected.",
    },
    "host.end_yes": {"fi": "Kyllä, päätä", "en": "Yes, end it"},
    "host.cancel": {"fi": "Peruuta", "en": "Cancel"},
    # -- protocol errors (docs/signaling.md) -------------------------------------------------
    "error.invalid_json": {
        "fi": "Sovelluksessa tapahtui virhe. Lataa sivu uudelleen.",
        "en": "Something went wrong in the app. Please reload the page.",
    },
    "error.invalid_message": {
        "fi": "Sovelluksessa tapahtui virhe. Lataa sivu uudelleen.",
        "en": "Something went wrong in the app. Please reload the page.",
    },
    "error.unknown_type": {
        "fi": "Sovellus on vanhentunut. Lataa sivu uudelleen.",
        "en": "The app is out of date. Please reload the page.",
    },
    "error.too_large": {
        "fi": "Viesti oli liian suuri, eikä sitä lähetetty.",
        "en": "A message was too large and was not sent.",
    },
    "error.rate_limited": {
        "fi": "Liian monta painallusta kerralla. Odota hetki.",
        "en": "Too many presses at once. Please wait a moment.",
    },
    "error.not_joined": {
        "fi": "Et ole vielä mukana tapahtumassa. Yhdistetään…",
        "en": "You have not joined yet. Connecting…",
    },
    "error.already_joined": {
        "fi": "Olet jo mukana tapahtumassa.",
        "en": "You are already in the session.",
    },
    "error.unknown_session": {
        "fi": "Tapahtumaa ei löytynyt.",
        "en": "The session was not found.",
    },
    "error.join_code_required": {
        "fi": "Tähän tapahtumaan tarvitaan liittymiskoodi.",
        "en": "This session needs a join code.",
    },
    "error.join_code_invalid": {
        "fi": "Liittymiskoodi ei kelpaa. Tarkista koodi.",
        "en": "The join code is not valid. Please check it.",
    },
    "error.token_invalid": {
        "fi": "Esiintyjän linkki ei kelpaa.",
        "en": "The presenter link is not valid.",
    },
    "error.session_full": {
        "fi": "Ryhmä on täynnä. Yritä myöhemmin uudelleen.",
        "en": "The group is full. Please try again later.",
    },
    "error.session_ended": {
        "fi": "Tapahtuma on päättynyt.",
        "en": "This session has ended.",
    },
    "error.not_started": {
        "fi": "Tapahtuma ei ole vielä alkanut.",
        "en": "The session has not started yet.",
    },
    "error.not_allowed": {
        "fi": "Tämä ei ole mahdollista tässä tapahtumassa.",
        "en": "That is not possible in this session.",
    },
    "error.invalid_sdp": {
        "fi": "Kuvayhteyden avaaminen epäonnistui. Yritetään uudelleen…",
        "en": "The video connection could not be opened. Trying again…",
    },
    "error.unexpected_answer": {
        "fi": "Kuvayhteys meni hetkeksi sekaisin. Yritetään uudelleen…",
        "en": "The video connection got confused for a moment. Trying again…",
    },
    "error.replaced": {
        "fi": "Tapahtuma avattiin toisessa ikkunassa, joten tämä ikkuna suljettiin.",
        "en": "The session was opened in another window, so this one was closed.",
    },
    "error.silent": {
        "fi": "Yhteys katkesi hetkeksi. Yhdistetään uudelleen…",
        "en": "The connection was lost for a moment. Reconnecting…",
    },
    "error.generic": {
        "fi": "Jokin meni vikaan. Yritä uudelleen.",
        "en": "Something went wrong. Please try again.",
    },
}

_WEEKDAYS = {
    "fi": ("ma", "ti", "ke", "to", "pe", "la", "su"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_LANGUAGE_RANGE = re.compile(r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;(.*))?$")


def _supported(lang: str | None) -> str | None:
    if not lang:
        return None
    primary = lang.strip().lower().split("-", 1)[0]
    return primary if primary in LANGUAGES else None


def negotiate_language(query_lang: str | None, accept_language: str | None) -> str:
    """``?lang=`` wins (a person chose it), then the browser's preference, else Finnish."""
    chosen = _supported(query_lang)
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
        lang = _supported(match.group(1))
        if lang is None or quality <= 0:
            continue
        # Highest quality first; among equals the earlier one (the browser's order).
        if best is None or (quality, -position) > (best[0], best[1]):
            best = (quality, -position, lang)
    return best[2] if best else DEFAULT_LANGUAGE


def translate(message_id: str, lang: str, **params: Any) -> str:
    """The text of ``message_id``; a missing id is a bug, so it raises ``KeyError``."""
    entry = MESSAGES[message_id]
    text = entry.get(lang) or entry[DEFAULT_LANGUAGE]
    return text.format(**params) if params else text


class Translator:
    """``_("id", name=value)`` in templates, bound to one language."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE

    def __call__(self, message_id: str, **params: Any) -> str:
        return translate(message_id, self.lang, **params)


def messages_for(lang: str) -> dict[str, str]:
    """The whole catalogue in one language, for the page scripts (it is small)."""
    return {key: translate(key, lang) for key in MESSAGES}


def format_datetime(moment: dt.datetime, lang: str, now: dt.datetime | None = None) -> str:
    """A start time as Kuopio people read it: ``ti 1.12. klo 18.00`` / ``Tue 1 Dec at 18:00``.

    Always in Europe/Helsinki time, whatever the server's zone; the year is added only when
    it is not the current one.
    """
    local = moment.astimezone(CITY_TZ)
    this_year = (now or dt.datetime.now(dt.UTC)).astimezone(CITY_TZ).year
    weekday = _WEEKDAYS[lang if lang in LANGUAGES else DEFAULT_LANGUAGE][local.weekday()]
    if lang == "en":
        year = f" {local.year}" if local.year != this_year else ""
        return f"{weekday} {local.day} {_MONTHS_EN[local.month - 1]}{year} at {local:%H:%M}"
    year = str(local.year) if local.year != this_year else ""
    return f"{weekday} {local.day}.{local.month}.{year} klo {local.hour}.{local:%M}"


def format_time(moment: dt.datetime, lang: str) -> str:
    """A clock time alone (the end of a session): ``19.30`` / ``19:30``."""
    local = moment.astimezone(CITY_TZ)
    return f"{local:%H:%M}" if lang == "en" else f"{local.hour}.{local:%M}"


def missing_translations(messages: Mapping[str, Mapping[str, str]] = MESSAGES) -> list[str]:
    """Ids lacking a language; a test keeps this empty."""
    return [key for key, entry in messages.items() if any(not entry.get(x) for x in LANGUAGES)]
