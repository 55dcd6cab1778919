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

from stream_server.basics import CITY_TZ

LANGUAGES = ("fi", "en")
DEFAULT_LANGUAGE = "fi"

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
        "fi": "Kamera ja mikrofoni ovat aluksi pois päältä. Sinä päätät, laitatko ne päälle.",
        "en": "Your camera and microphone stay off until you turn them on yourself.",
    },
    "join.broadcast_hint": {
        "fi": "Voit katsoa ja kuunnella. Sinua ei näy eikä kuulu.",
        "en": "You can watch and listen. Nobody can see or hear you.",
    },
    "join.group_hint": {
        "fi": "Voit näyttää kuvasi ja puhua, jos haluat.",
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
        "fi": "Voit liittyä uudelleen. Tapahtuman pitää olla vielä käynnissä.",
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
    "status.media_blocked": {
        "fi": "Yhteys ei onnistu tästä verkosta: kuva ja ääni eivät pääse perille. Kokeile "
        "toista verkkoa, esimerkiksi puhelimen mobiilidataa, tai pyydä kirjaston "
        "henkilökunnalta apua. Yritämme yhä uudelleen.",
        "en": "Media cannot connect from this network: picture and sound cannot get through. "
        "Try another network, for example your phone's mobile data, or ask the library "
        "staff for help. We keep trying.",
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
    "cancelled.heading": {"fi": "Tapahtuma on peruttu", "en": "This session is cancelled"},
    "cancelled.body": {"fi": "Syy: {reason}", "en": "Reason: {reason}"},
    "cancelled.next": {
        "fi": "Seuraava kerta: {when}. Tällä samalla koodilla pääset silloin mukaan.",
        "en": "Next time: {when}. This same code will let you in then.",
    },
    "in_person.heading": {
        "fi": "Tapahtumaan osallistutaan paikan päällä",
        "en": "This activity is in person only",
    },
    "in_person.body": {
        "fi": "Tervetuloa paikan päälle: {place}, {when}. Tapahtumaa ei lähetetä verkossa.",
        "en": "You are welcome to come: {place}, {when}. It is not streamed online.",
    },
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
    # -- moderation: the host mutes or removes a participant of a group ---------------------
    "mod.heading": {"fi": "Osallistujat", "en": "Participants"},
    "mod.none": {"fi": "Muita osallistujia ei vielä ole.", "en": "No participants yet."},
    "mod.mic_on": {"fi": "mikrofoni päällä", "en": "microphone on"},
    "mod.mic_off": {"fi": "mikrofoni pois", "en": "microphone off"},
    "mod.camera_on": {"fi": "kamera päällä", "en": "camera on"},
    "mod.by_host": {"fi": "mykistit", "en": "muted by you"},
    "mod.mute": {"fi": "Mykistä", "en": "Mute"},
    "mod.mute_label": {"fi": "Mykistä {name}", "en": "Mute {name}"},
    "mod.camera": {"fi": "Sulje kamera", "en": "Camera off"},
    "mod.camera_label": {"fi": "Sulje kamera: {name}", "en": "Camera off: {name}"},
    "mod.remove": {"fi": "Poista", "en": "Remove"},
    "mod.remove_label": {"fi": "Poista {name}", "en": "Remove {name}"},
    "mod.remove_confirm": {
        "fi": "Poistetaanko {name} tapahtumasta? Hän ei voi palata tästä ikkunasta.",
        "en": "Remove {name} from this session? They cannot come back from this window.",
    },
    "mod.remove_yes": {"fi": "Kyllä, poista", "en": "Yes, remove"},
    "mod.muted_done": {"fi": "{name} mykistettiin.", "en": "{name} was muted."},
    "mod.camera_done": {
        "fi": "Kamera suljettiin: {name}.",
        "en": "{name}'s camera was turned off.",
    },
    "mod.removed_done": {"fi": "{name} poistettiin.", "en": "{name} was removed."},
    "mod.you_muted_audio": {
        "fi": "Järjestäjä mykisti mikrofonisi. Voit avata sen uudelleen mikrofonipainikkeesta.",
        "en": "The host muted your microphone. Turn it on again with the microphone button.",
    },
    "mod.you_muted_video": {
        "fi": "Järjestäjä sulki kamerasi. Voit avata sen uudelleen kamerapainikkeesta.",
        "en": "The host turned your camera off. Turn it on again with the camera button.",
    },
    "error.not_host": {
        "fi": "Vain järjestäjä voi mykistää tai poistaa osallistujia tai tallentaa.",
        "en": "Only the host can mute or remove participants, or record.",
    },
    "error.unknown_participant": {
        "fi": "Osallistuja ei ole enää mukana.",
        "en": "That participant is no longer here.",
    },
    "error.removed": {
        "fi": "Järjestäjä poisti sinut tapahtumasta.",
        "en": "The host removed you from this session.",
    },
    # -- kiosk and tablet pages, the survey, the staff device page ------------------------------
    "kiosk.title": {"fi": "Tilan näyttö", "en": "Room screen"},
    "kiosk.not_enrolled_heading": {
        "fi": "Laitetta ei ole otettu käyttöön",
        "en": "This device has not been set up",
    },
    "kiosk.not_enrolled_body": {
        "fi": "Avaa henkilökunnalta saatu käyttöönottolinkki tai QR-koodi tällä laitteella.",
        "en": "Open the enrolment link or QR code from the library staff on this device.",
    },
    "kiosk.refused_heading": {"fi": "Laite ei ole käytössä", "en": "This device is not in use"},
    "kiosk.refused_retry": {
        "fi": "Laite yrittää uudelleen muutaman minuutin välein.",
        "en": "The device tries again every few minutes.",
    },
    "kiosk.programme": {"fi": "Tämän päivän ohjelma", "en": "Today's programme"},
    "kiosk.no_sessions": {
        "fi": "Tänään ei ole tapahtumia tässä tilassa.",
        "en": "No sessions in this room today.",
    },
    "kiosk.joins_at": {
        "fi": "Näyttö liittyy tapahtumaan itse klo {time}.",
        "en": "This screen joins the session by itself at {time}.",
    },
    "kiosk.next": {"fi": "Seuraavaksi: {title}", "en": "Next: {title}"},
    "kiosk.joining": {"fi": "Liitytään: {title}", "en": "Joining: {title}"},
    "kiosk.ended": {"fi": "Tapahtuma päättyi. Kiitos!", "en": "The session has ended. Thank you!"},
    "kiosk.offline": {
        "fi": "Ei yhteyttä palvelimeen. Yritetään uudelleen…",
        "en": "No connection to the server. Trying again…",
    },
    "kiosk.placement.host-room": {"fi": "Tässä tilassa", "en": "In this room"},
    "kiosk.placement.receiving-room": {"fi": "Näytetään tässä tilassa", "en": "Shown in this room"},
    "kiosk.placement.venue": {"fi": "Tässä kirjastossa", "en": "At this library"},
    "kiosk.placement.invited": {"fi": "Kutsuttu ryhmä", "en": "Invited group"},
    "kiosk.placement.public": {"fi": "Avoin kaikille", "en": "Open to all"},
    "kiosk.headcount": {"fi": "Montako ihmistä on paikalla?", "en": "People in the room"},
    "kiosk.headcount_minus": {"fi": "Yksi vähemmän", "en": "One fewer"},
    "kiosk.headcount_plus": {"fi": "Yksi lisää", "en": "One more"},
    "kiosk.headcount_field": {"fi": "Ihmisten määrä", "en": "Number of people"},
    "kiosk.headcount_save": {"fi": "Tallenna", "en": "Save"},
    "kiosk.headcount_saving": {"fi": "Tallennetaan…", "en": "Saving…"},
    "kiosk.headcount_saved": {
        "fi": "Tallennettu: {count} henkilöä paikalla.",
        "en": "Saved: {count} people present.",
    },
    "kiosk.headcount_failed": {
        "fi": "Henkilömäärää ei tallennettu: {reason}",
        "en": "The count was not saved: {reason}",
    },
    "kiosk.headcount_offline": {
        "fi": "ei yhteyttä palvelimeen, yritä hetken päästä uudelleen",
        "en": "no connection to the server, try again in a moment",
    },
    "kiosk.fullscreen": {"fi": "Koko näyttö", "en": "Full screen"},
    "tablet.title": {"fi": "Kirjaston tapahtumat", "en": "Library events"},
    "tablet.heading": {"fi": "Tapahtumat", "en": "Sessions"},
    "tablet.today": {"fi": "Tänään", "en": "Today"},
    "tablet.no_sessions": {
        "fi": "Tällä viikolla ei ole tapahtumia.",
        "en": "There are no sessions this week.",
    },
    "tablet.join": {"fi": "Liity", "en": "Join"},
    "tablet.join_label": {"fi": "Liity: {title}", "en": "Join: {title}"},
    "tablet.live": {"fi": "Käynnissä nyt", "en": "On now"},
    "tablet.open": {"fi": "Voit liittyä nyt", "en": "You can join now"},
    "tablet.not_yet": {
        "fi": "Voit liittyä puoli tuntia ennen alkua.",
        "en": "You can join half an hour before the start.",
    },
    "tablet.settings": {"fi": "Kuva ja ääni", "en": "Joining settings"},
    "tablet.camera": {"fi": "Näytä oma kuvani", "en": "Show my picture (camera)"},
    "tablet.audio_only": {
        "fi": "Vain ääni. Valitse, jos kuva pätkii.",
        "en": "Sound only (weak connection)",
    },
    "tablet.audio_only_active": {
        "fi": "Kuulet vain äänen. Kuvaa ei näytetä.",
        "en": "Sound only: no picture is shown.",
    },
    "tablet.switch_on": {"fi": "päällä", "en": "on"},
    "tablet.switch_off": {"fi": "pois", "en": "off"},
    "tablet.back": {"fi": "Takaisin tapahtumiin", "en": "Back to sessions"},
    "survey.question": {"fi": "Millainen tapahtuma oli?", "en": "How was the session?"},
    "survey.anonymous": {
        "fi": "Vastaus on nimetön. Voit myös ohittaa kysymyksen.",
        "en": "Your answer is anonymous. You may also skip the question.",
    },
    "survey.score.1": {"fi": "Todella huono", "en": "Very poor"},
    "survey.score.2": {"fi": "Huono", "en": "Poor"},
    "survey.score.3": {"fi": "Kohtalainen", "en": "Fair"},
    "survey.score.4": {"fi": "Hyvä", "en": "Good"},
    "survey.score.5": {"fi": "Erinomainen", "en": "Excellent"},
    "survey.skip": {"fi": "Ohita", "en": "Skip"},
    "survey.thanks": {"fi": "Kiitos vastauksestasi!", "en": "Thank you for your answer!"},
    "survey.next_person": {
        "fi": "Seuraava vastaaja voi valita kasvot.",
        "en": "The next person can choose a face.",
    },
    "survey.already": {
        "fi": "Olet jo vastannut. Kiitos!",
        "en": "You have already answered. Thanks!",
    },
    "survey.failed": {
        "fi": "Vastausta ei saatu tallennettua.",
        "en": "The answer could not be saved.",
    },
    "devices.title": {"fi": "Laitteet", "en": "Devices"},
    "devices.back": {"fi": "Henkilökunnan etusivu", "en": "Staff home"},
    "devices.list": {"fi": "Rekisteröidyt laitteet", "en": "Registered devices"},
    "devices.none": {"fi": "Laitteita ei ole vielä rekisteröity.", "en": "No devices yet."},
    "devices.col.name": {"fi": "Nimi", "en": "Name"},
    "devices.col.kind": {"fi": "Tyyppi", "en": "Kind"},
    "devices.col.place": {"fi": "Paikka", "en": "Place"},
    "devices.col.status": {"fi": "Yhteys", "en": "Connection"},
    "devices.col.last_seen": {"fi": "Viimeksi kuultu", "en": "Last seen"},
    "devices.col.doing": {"fi": "Tekee nyt", "en": "Doing now"},
    "devices.col.actions": {"fi": "Toiminnot", "en": "Actions"},
    "devices.kind.kiosk": {"fi": "Kioski", "en": "Kiosk"},
    "devices.kind.tablet": {"fi": "Kotitabletti", "en": "Home tablet"},
    "devices.kind.room-link": {"fi": "Tilan yhteys", "en": "Room link"},
    "devices.online": {"fi": "Verkossa", "en": "Online"},
    "devices.offline": {"fi": "Ei verkossa", "en": "Offline"},
    "devices.revoked": {"fi": "Peruttu", "en": "Revoked"},
    "devices.private": {
        "fi": "Vain yhteystila (yksityisyys)",
        "en": "Only online status (privacy)",
    },
    "devices.never": {"fi": "ei koskaan", "en": "never"},
    "devices.revoke": {"fi": "Peru käyttöoikeus", "en": "Revoke"},
    "devices.revoke_label": {"fi": "Peru laitteen {name} käyttöoikeus", "en": "Revoke {name}"},
    "devices.register": {"fi": "Rekisteröi laite", "en": "Register a device"},
    "devices.venue": {"fi": "Kirjasto", "en": "Venue"},
    "devices.room": {"fi": "Tila", "en": "Room"},
    "devices.room_none": {
        "fi": "Ei tilaa (koko kirjasto tai kotitabletti)",
        "en": "No room (whole venue, or a home tablet)",
    },
    "devices.kind": {"fi": "Tyyppi", "en": "Kind"},
    "devices.name": {"fi": "Nimi (vapaaehtoinen)", "en": "Name (optional)"},
    "devices.submit": {"fi": "Rekisteröi", "en": "Register"},
    "devices.created": {"fi": "Laite rekisteröity", "en": "Device registered"},
    "devices.token_once": {
        "fi": "Tunniste näytetään vain nyt. Avaa linkki tai lue QR-koodi laitteella, "
        "niin laite ottaa tunnisteen käyttöön.",
        "en": "The token is shown only now. Open the link or scan the QR code on the device "
        "to set it up.",
    },
    "devices.token": {"fi": "Tunniste", "en": "Token"},
    "devices.enrol_link": {"fi": "Käyttöönottolinkki", "en": "Enrolment link"},
    "devices.qr_alt": {
        "fi": "QR-koodi käyttöönottolinkistä",
        "en": "QR code of the enrolment link",
    },
    "devices.form_error": {
        "fi": "Rekisteröinti ei onnistunut: {reason}",
        "en": "The device was not registered: {reason}",
    },
    "devices.state.idle": {"fi": "Vapaana", "en": "Idle"},
    "devices.state.waiting": {"fi": "Odottaa tapahtumaa", "en": "Waiting for a session"},
    "devices.state.joining": {"fi": "Liittyy", "en": "Joining"},
    "devices.state.playing": {"fi": "Näyttää tapahtumaa", "en": "Showing a session"},
    "devices.state.publishing": {"fi": "Lähettää", "en": "Publishing"},
    "devices.state.error": {"fi": "Virhe", "en": "Error"},
    # -- protocol errors (docs/signaling.md) -------------------------------------------------
    "error.device_token_required": {
        "fi": "Vain rekisteröity laite voi liittyä tällä tavalla.",
        "en": "Only a registered device can join this way.",
    },
    "error.device_token_invalid": {
        "fi": "Laitteen tunnistetta ei tunneta. Pyydä henkilökuntaa rekisteröimään laite.",
        "en": "This device is not recognised. Ask the staff to register it.",
    },
    "error.device_revoked": {
        "fi": "Laitteen käyttöoikeus on peruttu. "
        "Pyydä henkilökuntaa rekisteröimään laite uudelleen.",
        "en": "This device has been revoked. Ask the staff to register it again.",
    },
    "error.device_not_allowed": {
        "fi": "Tämä laite ei kuulu tähän tapahtumaan.",
        "en": "This device has no part in this session.",
    },
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
    "error.session_cancelled": {
        "fi": "Tapahtuma on peruttu.",
        "en": "This session has been cancelled.",
    },
    "error.not_online": {
        "fi": "Tähän tapahtumaan osallistutaan vain paikan päällä; sitä ei lähetetä verkossa.",
        "en": "This activity is in person only; it is not streamed.",
    },
    "error.server_stopping": {
        "fi": "Palvelin käynnistyy uudelleen. Yhdistetään hetken kuluttua…",
        "en": "The server is restarting. Reconnecting in a moment…",
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
    # -- staff dashboard and reports (UI) ------------------------------------------------------
    "dash.title": {"fi": "Henkilökunnan näkymä", "en": "Staff dashboard"},
    "dash.today": {"fi": "Tämän päivän tapahtumat", "en": "Today's sessions"},
    "dash.date": {"fi": "Tänään {day}", "en": "Today, {day}"},
    "dash.nav": {"fi": "Henkilökunnan sivut", "en": "Staff pages"},
    "dash.reports_link": {"fi": "Raportit", "en": "Reports"},
    "dash.devices_link": {"fi": "Laitteet", "en": "Devices"},
    "dash.areas_link": {"fi": "Alueiden asukasluvut", "en": "Area populations"},
    "dash.programme_link": {"fi": "Ohjelma", "en": "Programme"},
    "dash.organisers_link": {"fi": "Järjestäjät", "en": "Organisers"},
    "dash.audit_link": {"fi": "Muutosloki", "en": "Audit log"},
    "scope.heading": {"fi": "Ei käyttöoikeutta", "en": "Outside your role"},
    "scope.body": {
        "fi": "Tämä sivu ei kuulu käyttäjätunnuksesi rooliin. Kysy ylläpitäjältä.",
        "en": "This page is outside your account's role. Ask an administrator.",
    },
    "areas.read_only": {
        "fi": "Vain koko kaupungin henkilökunta voi muuttaa asukaslukuja.",
        "en": "Only city-wide staff can change the populations.",
    },
    "dash.recordings_link": {"fi": "Tallenteet", "en": "Recordings"},
    # -- recordings (staff) ----------------------------------------------------------------------
    "recordings.title": {"fi": "Tallenteet", "en": "Recordings"},
    "recordings.intro": {
        "fi": "Lähetysten tallenteet. Ne poistetaan automaattisesti {days} päivän kuluttua; "
        "jos tallenne julkaistaan, kopioi se ensin muualle ja huolehdi kuvattujen luvista.",
        "en": "Recordings of broadcasts. They are deleted automatically after {days} days; "
        "to publish one, copy it elsewhere first and take care of the consent of the people "
        "in it.",
    },
    "recordings.intro_kept": {
        "fi": "Lähetysten tallenteet. Niitä ei poisteta automaattisesti.",
        "en": "Recordings of broadcasts. They are not deleted automatically.",
    },
    "recordings.none": {"fi": "Tallenteita ei ole.", "en": "There are no recordings."},
    "recordings.col.session": {"fi": "Tapahtuma", "en": "Session"},
    "recordings.col.started": {"fi": "Alkoi", "en": "Started"},
    "recordings.col.size": {"fi": "Koko", "en": "Size"},
    "recordings.col.expires": {"fi": "Poistetaan", "en": "Deleted on"},
    "recordings.col.actions": {"fi": "Toiminnot", "en": "Actions"},
    "recordings.unknown_session": {"fi": "(poistettu tapahtuma)", "en": "(removed session)"},
    "recordings.in_progress": {"fi": "Tallennus käynnissä", "en": "Being recorded"},
    "recordings.never": {"fi": "ei automaattisesti", "en": "not automatically"},
    "recordings.download": {"fi": "Lataa", "en": "Download"},
    "recordings.download_label": {
        "fi": "Lataa tallenne: {title}, {started}",
        "en": "Download the recording: {title}, {started}",
    },
    "recordings.delete": {"fi": "Poista", "en": "Delete"},
    "recordings.delete_label": {
        "fi": "Poista tallenne: {title}, {started}",
        "en": "Delete the recording: {title}, {started}",
    },
    "recordings.confirm_title": {"fi": "Poistetaanko tallenne?", "en": "Delete the recording?"},
    "recordings.confirm_text": {
        "fi": "Tallenne {title} ({started}, {size}) poistetaan pysyvästi. Tätä ei voi perua.",
        "en": "The recording {title} ({started}, {size}) will be deleted for good. "
        "This cannot be undone.",
    },
    "recordings.confirm": {"fi": "Poista pysyvästi", "en": "Delete for good"},
    "recordings.cancel": {"fi": "Peruuta", "en": "Cancel"},
    "recordings.deleted": {"fi": "Tallenne poistettu.", "en": "The recording was deleted."},
    # -- area populations (staff) ---------------------------------------------------------------
    "areas.title": {"fi": "Alueiden asukasluvut", "en": "Area populations"},
    "areas.intro": {
        "fi": "Raporttien luvut 1 000 asukasta kohden lasketaan näistä asukasluvuista. "
        "Muutos näkyy raporteissa heti.",
        "en": "The reports' figures per 1,000 residents are computed from these populations. "
        "A change shows in the reports at once.",
    },
    "areas.col.area": {"fi": "Alue", "en": "Area"},
    "areas.col.population": {"fi": "Asukasluku", "en": "Population"},
    "areas.population_of": {"fi": "Asukasluku: {area}", "en": "Population: {area}"},
    "areas.save": {"fi": "Tallenna asukasluvut", "en": "Save the populations"},
    "areas.saved": {"fi": "Asukasluvut tallennettu.", "en": "The populations were saved."},
    "areas.invalid": {
        "fi": "Anna kokonaisluku väliltä 0–{max}.",
        "en": "Give a whole number from 0 to {max}.",
    },
    "areas.not_saved": {
        "fi": "Mitään ei tallennettu: korjaa merkityt kentät.",
        "en": "Nothing was saved: correct the marked fields.",
    },
    "dash.dashboard_link": {"fi": "Päivän näkymä", "en": "Today's dashboard"},
    "dash.logged_in_as": {"fi": "Kirjautuneena: {name}", "en": "Logged in as {name}"},
    "dash.logout": {"fi": "Kirjaudu ulos", "en": "Log out"},
    "dash.empty": {
        "fi": "Tänään ei ole tapahtumia.",
        "en": "There are no sessions today.",
    },
    "dash.live_on": {
        "fi": "Luvut päivittyvät automaattisesti.",
        "en": "The figures update by themselves.",
    },
    "dash.live_connecting": {"fi": "Yhdistetään päivityksiin…", "en": "Connecting to updates…"},
    "dash.live_lost": {
        "fi": "Päivitysyhteys katkesi. Yhdistetään uudelleen…",
        "en": "Lost the update connection. Reconnecting…",
    },
    "dash.announce_toggle": {
        "fi": "Kerro lukujen muutoksista ruudunlukijalle",
        "en": "Announce changes in the figures to screen readers",
    },
    "dash.announce": {
        "fi": "{title}: paikalla {in_person}, verkossa nyt {online_now}, yhteensä {total}.",
        "en": "{title}: {in_person} in person, {online_now} online now, {total} in total.",
    },
    "dash.day_changed": {
        "fi": "Päivä on vaihtunut.",
        "en": "The day has changed.",
    },
    "dash.announce_added": {
        "fi": "Uusi tapahtuma tänään: {title}, {time}.",
        "en": "New session today: {title}, {time}.",
    },
    "dash.announce_removed": {
        "fi": "Tapahtuma poistui tämän päivän listalta: {title}.",
        "en": "Session no longer on today's list: {title}.",
    },
    "dash.reload": {"fi": "Päivitä sivu", "en": "Reload the page"},
    "dash.time": {"fi": "Aika", "en": "Time"},
    "dash.venues": {"fi": "Paikka", "en": "Venue"},
    "dash.host_venue": {"fi": "{name} (järjestäjä)", "en": "{name} (host)"},
    "dash.mode": {"fi": "Tyyppi", "en": "Type"},
    "dash.phase": {"fi": "Tila", "en": "Status"},
    "dash.phase.upcoming": {"fi": "Tulossa", "en": "Upcoming"},
    "dash.phase.open": {"fi": "Ovet auki", "en": "Doors open"},
    "dash.phase.live": {"fi": "Käynnissä", "en": "Live"},
    "dash.phase.ended": {"fi": "Päättynyt", "en": "Ended"},
    "dash.in_person": {"fi": "Paikalla", "en": "In person"},
    "dash.online_now": {"fi": "Verkossa nyt", "en": "Online now"},
    "dash.online_total": {"fi": "Verkossa kaikkiaan", "en": "Online in all"},
    "dash.total": {"fi": "Yhteensä", "en": "Total"},
    "dash.figures": {"fi": "Osallistujaluvut", "en": "Attendance figures"},
    "dash.headcount": {"fi": "Paikalla olevien määrä", "en": "People present"},
    "dash.headcount_label": {"fi": "Paikalla: {venue}", "en": "Present at {venue}"},
    "dash.headcount_hint": {
        "fi": "Tilassa on {capacity} paikkaa.",
        "en": "The room holds {capacity}.",
    },
    "dash.decrease": {"fi": "Yksi vähemmän: {venue}", "en": "One fewer at {venue}"},
    "dash.increase": {"fi": "Yksi lisää: {venue}", "en": "One more at {venue}"},
    "dash.save": {"fi": "Tallenna", "en": "Save"},
    "dash.saving": {"fi": "Tallennetaan…", "en": "Saving…"},
    "dash.saved": {
        "fi": "Tallennettu: {venue} {count}.",
        "en": "Saved: {count} at {venue}.",
    },
    "dash.not_counted": {"fi": "ei laskettu", "en": "not counted"},
    "dash.error.whole": {
        "fi": "Anna määrä kokonaislukuna, esimerkiksi 12.",
        "en": "Enter the count as a whole number, for example 12.",
    },
    "dash.error.negative": {
        "fi": "Määrä ei voi olla negatiivinen.",
        "en": "The count cannot be negative.",
    },
    "dash.error.capacity": {
        "fi": "Määrä on suurempi kuin tilan {capacity} paikkaa. Tarkista luku.",
        "en": "The count is over the room's {capacity} places. Please check it.",
    },
    "dash.error.absurd": {
        "fi": "Määrä on epäuskottavan suuri. Tarkista luku.",
        "en": "The count is not believable. Please check it.",
    },
    "dash.error.wrong_venue": {
        "fi": "Tälle paikalle ei voi kirjata määrää tässä tapahtumassa.",
        "en": "A count cannot be recorded for this venue in this session.",
    },
    "dash.error.login": {
        "fi": "Kirjautuminen on vanhentunut. Kirjaudu uudelleen.",
        "en": "Your login has expired. Please log in again.",
    },
    "dash.error.csrf": {
        "fi": "Sivu on vanhentunut. Päivitä sivu ja yritä uudelleen.",
        "en": "The page is out of date. Reload it and try again.",
    },
    "dash.error.network": {
        "fi": "Tallennus epäonnistui: ei yhteyttä palvelimeen.",
        "en": "Saving failed: no connection to the server.",
    },
    "reports.title": {"fi": "Osallistumisraportit", "en": "Attendance reports"},
    "reports.choose": {"fi": "Raportin valinnat", "en": "Report options"},
    "reports.period": {"fi": "Aikaväli", "en": "Period"},
    "reports.period.week": {"fi": "Tämä viikko", "en": "This week"},
    "reports.period.month": {"fi": "Tämä kuukausi", "en": "This month"},
    "reports.period.year": {"fi": "Tämä vuosi", "en": "This year"},
    "reports.period.custom": {"fi": "Oma aikaväli", "en": "Custom dates"},
    "reports.from": {"fi": "Alkaen", "en": "From"},
    "reports.to": {"fi": "Päättyen", "en": "To"},
    "reports.dates_hint": {
        "fi": "Omat päivämäärät ovat käytössä, kun aikaväliksi on valittu oma aikaväli.",
        "en": "The dates apply when the period is set to custom dates.",
    },
    "reports.group_by": {"fi": "Ryhmittely", "en": "Group by"},
    "reports.group.area": {"fi": "Alue", "en": "Area"},
    "reports.group.venue": {"fi": "Toimipiste", "en": "Venue"},
    "reports.group.organiser": {"fi": "Järjestäjä", "en": "Organiser"},
    "reports.group.category": {"fi": "Luokka", "en": "Category"},
    "reports.group.month": {"fi": "Kuukausi", "en": "Month"},
    "reports.show": {"fi": "Näytä raportti", "en": "Show report"},
    "reports.showing": {"fi": "Aikaväli {start}–{end}", "en": "Period {start}–{end}"},
    "reports.csv_comma": {
        "fi": "Lataa CSV (desimaalipilkku, Excel)",
        "en": "Download CSV (decimal comma, Finnish Excel)",
    },
    "reports.csv_point": {
        "fi": "Lataa CSV (desimaalipiste)",
        "en": "Download CSV (decimal point)",
    },
    "reports.downloads": {"fi": "Lataukset", "en": "Downloads"},
    "reports.table": {"fi": "Raporttitaulukko", "en": "Report table"},
    "reports.loading": {"fi": "Haetaan raporttia…", "en": "Loading the report…"},
    "reports.loaded": {
        "fi": "Raportti haettu: {rows} riviä.",
        "en": "Report loaded: {rows} rows.",
    },
    "reports.no_rows": {
        "fi": "Aikavälillä ei ole tapahtumia.",
        "en": "There are no sessions in this period.",
    },
    "reports.failed": {
        "fi": "Raportin haku epäonnistui ({status}).",
        "en": "The report could not be loaded ({status}).",
    },
    "reports.trend": {"fi": "Kehitys kuukausittain", "en": "Trend by month"},
    "reports.trend_caption": {
        "fi": "Osallistujat kuukausittain {start}–{end}: yhteensä, paikan päällä ja verkossa.",
        "en": "Participants by month {start}–{end}: total, in person and online.",
    },
    "reports.areas": {
        "fi": "Alueiden vertailu 1 000 asukasta kohden",
        "en": "Areas compared per 1,000 residents",
    },
    "reports.areas_caption": {
        "fi": "Osallistujia 1 000 asukasta kohden alueittain {start}–{end}.",
        "en": "Participants per 1,000 residents by area, {start}–{end}.",
    },
    "reports.chart_as_table": {
        "fi": "Kaavion luvut taulukkona",
        "en": "The chart's figures as a table",
    },
    "reports.series.total": {"fi": "Yhteensä", "en": "Total"},
    "reports.series.in_person": {"fi": "Paikan päällä", "en": "In person"},
    "reports.series.online": {"fi": "Verkossa", "en": "Online"},
    "reports.series.per_1000": {"fi": "Per 1 000 asukasta", "en": "Per 1,000 residents"},
    "reports.error.dates_missing": {
        "fi": "Anna oman aikavälin molemmat päivämäärät. Näytetään tämä kuukausi.",
        "en": "Give both dates of a custom period. Showing this month.",
    },
    "reports.error.dates_order": {
        "fi": "Alkupäivä on loppupäivän jälkeen. Näytetään tämä kuukausi.",
        "en": "The start date is after the end date. Showing this month.",
    },
    "reports.error.dates_long": {
        "fi": "Aikaväli on liian pitkä (enintään viisi vuotta). Näytetään tämä kuukausi.",
        "en": "The period is too long (five years at most). Showing this month.",
    },
    # -- staff ---------------------------------------------------------------------------------
    "staff.login.title": {"fi": "Henkilökunnan kirjautuminen", "en": "Staff login"},
    "staff.login.name": {"fi": "Käyttäjätunnus", "en": "User name"},
    "staff.login.password": {"fi": "Salasana", "en": "Password"},
    "staff.login.submit": {"fi": "Kirjaudu", "en": "Log in"},
    "staff.login.failed": {
        "fi": "Käyttäjätunnus tai salasana on väärin.",
        "en": "The user name or password is wrong.",
    },
    "staff.login.throttled": {
        "fi": "Liian monta epäonnistunutta kirjautumista. Yritä uudelleen {minutes} min kuluttua.",
        "en": "Too many failed logins. Please try again in {minutes} min.",
    },
    "staff.login.hint": {
        "fi": "Osallistujat eivät tarvitse tunnusta. Henkilökunnan tunnuksen ja unohtuneen "
        "salasanan tilalle uuden saat kirjaston tietohallinnolta.",
        "en": "Participants never need an account. Ask the library's IT support for a "
        "staff account, or for a new password if you have forgotten yours.",
    },
    # -- chat (web/templates/_chat.html, web/static/js/chat.js) ----------------------------------
    "chat.heading": {"fi": "Keskustelu", "en": "Chat"},
    "chat.privacy": {
        "fi": "Viestejä ei tallenneta. Ne näkyvät vain tämän tapahtuman aikana.",
        "en": "Messages are not stored. They are shown only while this session lasts.",
    },
    "chat.empty": {"fi": "Ei vielä viestejä.", "en": "No messages yet."},
    "chat.label": {"fi": "Kirjoita viesti", "en": "Write a message"},
    "chat.send": {"fi": "Lähetä", "en": "Send"},
    "chat.counter": {"fi": "{n}/{max} merkkiä", "en": "{n}/{max} characters"},
    "chat.you": {"fi": "Sinä", "en": "You"},
    "chat.host": {"fi": "Järjestäjä", "en": "Host"},
    "chat.delete": {"fi": "Poista viesti", "en": "Delete message"},
    "chat.delete_label": {
        "fi": "Poista viesti: {name}: {text}",
        "en": "Delete message: {name}: {text}",
    },
    "chat.deleted": {"fi": "Viesti poistettiin.", "en": "The message was deleted."},
    "chat.empty_text": {"fi": "Kirjoita ensin viesti.", "en": "Write a message first."},
    "chat.not_connected": {
        "fi": "Yhteys ei ole auki. Viestiä ei lähetetty.",
        "en": "Not connected. The message was not sent.",
    },
    "error.chat_disabled": {
        "fi": "Keskustelu on poistettu käytöstä tällä palvelimella.",
        "en": "Chat is turned off on this server.",
    },
    "error.unknown_message": {
        "fi": "Viestiä ei enää ole.",
        "en": "That message no longer exists.",
    },
    # -- recording ------------------------------------------------------------------------------
    "recording.on": {"fi": "● Tallennetaan", "en": "● Recording"},
    "recording.on_long": {
        "fi": "Tätä tapahtumaa tallennetaan: juontajan kuva ja ääni.",
        "en": "This session is being recorded: the host's camera and sound.",
    },
    "recording.started": {
        "fi": "Tallennus alkoi. Juontajan kuva ja ääni tallennetaan.",
        "en": "Recording started. The host's camera and sound are recorded.",
    },
    "recording.stopped": {"fi": "Tallennus päättyi.", "en": "Recording stopped."},
    "recording.start": {"fi": "Tallenna", "en": "Record"},
    "recording.stop": {"fi": "Lopeta tallennus", "en": "Stop recording"},
    "error.recording_disabled": {
        "fi": "Tallentaminen on poistettu käytöstä tällä palvelimella.",
        "en": "Recording is turned off on this server.",
    },
    "error.recording_group_unsupported": {
        "fi": "Ryhmätapaamisia ei tallenneta.",
        "en": "Group sessions are not recorded.",
    },
    "error.session_not_live": {
        "fi": "Lähetys ei ole käynnissä. Aloita lähetys ensin.",
        "en": "The broadcast is not on. Start broadcasting first.",
    },
    "error.media_ports_exhausted": {
        "fi": "Palvelimella ei juuri nyt ole tilaa uudelle yhteydelle. Yritetään hetken "
        "päästä uudelleen…",
        "en": "The server has no room for another connection right now. Trying again in a moment…",
    },
    "error.server_busy": {
        "fi": "Palvelimella ei juuri nyt ole tilaa uudelle yhteydelle. Yritetään hetken "
        "päästä uudelleen…",
        "en": "The server has no room for another connection right now. Trying again in a moment…",
    },
    "error.host_token_required": {
        "fi": "Esiintyjän sivu avautuu vain esiintyjän linkillä.",
        "en": "The presenter page opens only with the presenter's link.",
    },
    "error.media_timeout": {
        "fi": "Kuva- ja ääniyhteys ei auennut. Yritetään uudelleen…",
        "en": "The picture and sound connection did not open. Trying again…",
    },
    "error.generic": {
        "fi": "Jokin meni vikaan. Yritä uudelleen.",
        "en": "Something went wrong. Please try again.",
    },
    # -- reports ---
    "reports.total": {"fi": "Yhteensä", "en": "Total"},
    "reports.no_organiser": {"fi": "Ei järjestäjää", "en": "No organiser"},
    "reports.col.key": {"fi": "tunniste", "en": "key"},
    "reports.col.label": {"fi": "nimi", "en": "name"},
    "reports.col.population": {"fi": "asukasluku", "en": "population"},
    "reports.col.sessions_held": {"fi": "toteutuneet tilaisuudet", "en": "sessions held"},
    "reports.col.activity_hours": {"fi": "toimintatunnit", "en": "activity hours"},
    "reports.col.in_person": {"fi": "osallistujat paikan päällä", "en": "in-person participants"},
    "reports.col.online": {"fi": "etäosallistujat", "en": "online participants"},
    "reports.col.online_hours": {
        "fi": "etäosallistujatunnit",
        "en": "online participant-hours",
    },
    "reports.col.brief_visits": {"fi": "lyhyet käynnit", "en": "brief visits"},
    "reports.col.total": {"fi": "osallistujat yhteensä", "en": "total participants"},
    "reports.col.organisers": {"fi": "järjestäjät", "en": "organisers"},
    "reports.col.satisfaction_mean": {
        "fi": "tyytyväisyys (keskiarvo 1–5)",
        "en": "satisfaction (mean 1-5)",
    },
    "reports.col.satisfaction_answers": {
        "fi": "tyytyväisyysvastaukset",
        "en": "satisfaction answers",
    },
    "reports.col.per_1000": {"fi": "/ 1000 asukasta", "en": "per 1,000 residents"},
    "reports.category.lecture": {"fi": "Luento", "en": "Lecture"},
    "reports.category.exercise": {"fi": "Liikunta", "en": "Exercise"},
    "reports.category.music": {"fi": "Musiikki", "en": "Music"},
    "reports.category.discussion": {"fi": "Keskustelu", "en": "Discussion"},
    "reports.category.digital-help": {"fi": "Digiapu", "en": "Digital help"},
    "reports.category.crafts": {"fi": "Käsityöt", "en": "Crafts"},
    "reports.category.culture": {"fi": "Kulttuuri", "en": "Culture"},
    "reports.category.other": {"fi": "Muu", "en": "Other"},
    # -- the planning page, organisers, the audit log, join cards --------------------------------
    "prog.title": {"fi": "Ohjelma", "en": "Programme"},
    "prog.week": {
        "fi": "Viikko {number}: {first}–{last}",
        "en": "Week {number}: {first} – {last}",
    },
    "prog.weeks_nav": {"fi": "Viikot", "en": "Weeks"},
    "prog.previous": {"fi": "← Edellinen viikko", "en": "← Previous week"},
    "prog.next": {"fi": "Seuraava viikko →", "en": "Next week →"},
    "prog.this_week": {"fi": "Tämä viikko", "en": "This week"},
    "prog.filters": {"fi": "Rajaa ohjelmaa", "en": "Filter the programme"},
    "prog.filter": {"fi": "Näytä", "en": "Show"},
    "prog.all": {"fi": "Kaikki", "en": "All"},
    "prog.new": {"fi": "Uusi tapahtuma", "en": "New session"},
    "prog.create": {"fi": "Luo tapahtuma", "en": "Create session"},
    "prog.created": {"fi": "Tapahtuma luotu", "en": "Session created"},
    "prog.session": {"fi": "Tapahtuma", "en": "Session"},
    "prog.copy_week": {
        "fi": "Kopioi tämän viikon kertatapahtumat seuraavalle viikolle",
        "en": "Copy this week's one-off sessions to next week",
    },
    "prog.empty": {
        "fi": "Tällä viikolla ei ole tapahtumia näillä rajauksilla.",
        "en": "No sessions this week with these filters.",
    },
    "prog.table_caption": {"fi": "{venue}, {week}", "en": "{venue}, {week}"},
    "prog.badge.cancelled": {"fi": "Peruttu", "en": "Cancelled"},
    "prog.badge.ended": {"fi": "Päättynyt", "en": "Ended"},
    "prog.badge.series": {"fi": "Viikoittain", "en": "Weekly"},
    "prog.badge.in_person": {"fi": "Vain paikan päällä", "en": "In person only"},
    "prog.badge.private": {"fi": "Yksityinen", "en": "Private"},
    "prog.badge.group": {"fi": "Ryhmä", "en": "Group"},
    "prog.badge.shown_at": {"fi": "Näytetään: {venues}", "en": "Shown at: {venues}"},
    "prog.join_code": {"fi": "Liittymiskoodi", "en": "Join code"},
    "prog.join_link": {"fi": "Liittymislinkki", "en": "Join link"},
    "prog.card": {"fi": "Kortti", "en": "Card"},
    "prog.card_open": {"fi": "Avaa tulostettava kortti", "en": "Open the printable card"},
    "prog.host_link": {"fi": "Esiintyjän linkki", "en": "Host link"},
    "prog.publish_token": {"fi": "Lähetysavain (OBS)", "en": "Publish token (OBS)"},
    "prog.whip_url": {"fi": "WHIP-osoite", "en": "WHIP URL"},
    "prog.links_once": {
        "fi": "Esiintyjän linkki ja lähetysavain näytetään vain nyt: kopioi ne talteen.",
        "en": "The host link and the publish token are shown only now: copy them.",
    },
    "prog.links_hint": {
        "fi": "Linkkiä ei tallenneta. Uusi linkki korvaa vanhan heti.",
        "en": "The link is not stored. A new one replaces the old one at once.",
    },
    "prog.new_links": {"fi": "Tee uusi esiintyjän linkki", "en": "Make a new host link"},
    "prog.new_links_series": {
        "fi": "Tee uusi esiintyjän linkki koko sarjalle",
        "en": "Make a new host link for the whole series",
    },
    "prog.new_links_made": {"fi": "Uudet linkit", "en": "New links"},
    "prog.occurrences": {"fi": "Kerrat ({count})", "en": "Occurrences ({count})"},
    "prog.to_week": {"fi": "Viikkonäkymään", "en": "To the week view"},
    "prog.open_session": {"fi": "Avaa tapahtuma", "en": "Open the session"},
    "prog.back": {"fi": "← Takaisin ohjelmaan", "en": "← Back to the programme"},
    "prog.errors": {"fi": "Tarkista nämä kohdat", "en": "Please check these"},
    "prog.conflict_link": {"fi": "Näytä varaus", "en": "Show the booking"},
    "prog.no_organiser": {"fi": "(ei järjestäjää)", "en": "(no organiser)"},
    "prog.repeat": {"fi": "Toistuu viikoittain", "en": "Repeats weekly"},
    "prog.public": {"fi": "Julkinen (näkyy listalla)", "en": "Public (listed)"},
    "prog.private": {
        "fi": "Yksityinen (vain koodilla, esim. kotihoidon ryhmä)",
        "en": "Private (by code only, e.g. a home-care group)",
    },
    "prog.field.title": {"fi": "Otsikko", "en": "Title"},
    "prog.field.description": {"fi": "Kuvaus", "en": "Description"},
    "prog.field.category": {"fi": "Luokka", "en": "Category"},
    "prog.field.organiser": {"fi": "Järjestäjä", "en": "Organiser"},
    "prog.field.venue": {"fi": "Kirjasto", "en": "Library"},
    "prog.field.room": {"fi": "Tila", "en": "Room"},
    "prog.field.date": {"fi": "Päivä", "en": "Date"},
    "prog.field.time": {"fi": "Alkaa klo", "en": "Starts at"},
    "prog.field.minutes": {"fi": "Kesto (min)", "en": "Length (min)"},
    "prog.field.weekdays": {"fi": "Viikonpäivät", "en": "Weekdays"},
    "prog.field.ends": {"fi": "Päättyy", "en": "Ends"},
    "prog.field.until": {"fi": "Päivään", "en": "On date"},
    "prog.field.until_date": {"fi": "Viimeinen päivä", "en": "Last date"},
    "prog.field.count": {"fi": "Kertoja", "en": "After times"},
    "prog.field.count_number": {"fi": "Kertojen määrä", "en": "Number of times"},
    "prog.field.except": {"fi": "Paitsi päivinä", "en": "Except on"},
    "prog.field.how": {"fi": "Miten osallistutaan", "en": "How people take part"},
    "prog.field.online": {"fi": "Lähetetään verkossa", "en": "Streamed online"},
    "prog.field.receivers": {
        "fi": "Näytetään myös näissä kirjastoissa",
        "en": "Also shown in these libraries",
    },
    "prog.field.reason": {"fi": "Syy", "en": "Reason"},
    "prog.field.device": {"fi": "Tabletti", "en": "Tablet"},
    "prog.hint.time": {"fi": "Suomen aikaa", "en": "Finnish time"},
    "prog.hint.except": {
        "fi": "Päivämäärät pilkulla erotettuina, esim. 2026-12-24, 2026-12-31",
        "en": "Dates separated by commas, e.g. 2026-12-24, 2026-12-31",
    },
    "prog.hint.online": {
        "fi": "Ilman rastia tapahtuma on vain paikan päällä: se on ohjelmassa, kävijät lasketaan.",
        "en": "Unticked, the session is in person only: it is in the programme and counted.",
    },
    "prog.hint.reason": {
        "fi": "Syy näytetään osallistujille ja tableteilla.",
        "en": "The reason is shown to participants and on tablets.",
    },
    "prog.edit": {"fi": "Muuta", "en": "Edit"},
    "prog.save": {"fi": "Tallenna", "en": "Save"},
    "prog.scope": {"fi": "Mitä muutetaan?", "en": "What changes?"},
    "prog.scope_cancel": {"fi": "Mitä perutaan?", "en": "What is cancelled?"},
    "prog.scope.one": {"fi": "Vain tämä kerta", "en": "Only this one"},
    "prog.scope.following": {"fi": "Tämä ja seuraavat", "en": "This and following"},
    "prog.cancel": {"fi": "Peru", "en": "Cancel"},
    "prog.cancel_button": {"fi": "Peru tapahtuma", "en": "Cancel the session"},
    "prog.end": {"fi": "Lopeta nyt", "en": "End now"},
    "prog.end_hint": {
        "fi": "Kirjasto voi lopettaa tapahtuman: kaikkien yhteys katkaistaan.",
        "en": "The library may stop an event: everyone is disconnected.",
    },
    "prog.end_button": {"fi": "Lopeta tapahtuma", "en": "End the session"},
    "prog.invite": {"fi": "Kutsu tabletti", "en": "Invite a tablet"},
    "prog.invite_button": {"fi": "Kutsu", "en": "Invite"},
    "prog.invite_button_series": {
        "fi": "Kutsu koko sarjaan",
        "en": "Invite to the whole series",
    },
    "prog.series": {"fi": "Sarja", "en": "Series"},
    "prog.status": {"fi": "Tilanne", "en": "Status"},
    "prog.status.scheduled": {"fi": "Tulossa", "en": "Scheduled"},
    "prog.status.cancelled": {"fi": "Peruttu", "en": "Cancelled"},
    "prog.status.ended": {"fi": "Päättynyt", "en": "Ended"},
    "prog.rule": {
        "fi": "Viikoittain: {days} klo {time}, {end}",
        "en": "Weekly: {days} at {time}, {end}",
    },
    "prog.rule.until": {"fi": "{date} asti", "en": "until {date}"},
    "prog.rule.count": {"fi": "{count} kertaa", "en": "{count} times"},
    "prog.weekday.mo": {"fi": "ma", "en": "Mon"},
    "prog.weekday.tu": {"fi": "ti", "en": "Tue"},
    "prog.weekday.we": {"fi": "ke", "en": "Wed"},
    "prog.weekday.th": {"fi": "to", "en": "Thu"},
    "prog.weekday.fr": {"fi": "pe", "en": "Fri"},
    "prog.weekday.sa": {"fi": "la", "en": "Sat"},
    "prog.weekday.su": {"fi": "su", "en": "Sun"},
    "prog.notice.saved": {"fi": "Muutos tallennettu.", "en": "Change saved."},
    "prog.notice.cancelled": {"fi": "Tapahtuma peruttu.", "en": "Session cancelled."},
    "prog.notice.ended": {"fi": "Tapahtuma lopetettu.", "en": "Session ended."},
    "prog.notice.undone": {"fi": "Viimeisin muutos kumottu.", "en": "Last change undone."},
    "prog.notice.nothing": {"fi": "Ei kumottavaa.", "en": "Nothing to undo."},
    "prog.notice.undo_failed": {
        "fi": "Kumoaminen ei onnistunut: joku on muuttanut tapahtumaa sen jälkeen.",
        "en": "Could not undo: someone has changed the session since.",
    },
    "prog.notice.invited": {"fi": "Tabletti kutsuttu.", "en": "Tablet invited."},
    "prog.notice.copied": {
        "fi": "Kopioitu {copied} tapahtumaa tälle viikolle; {skipped} jäi pois: tila varattu.",
        "en": "Copied {copied} sessions to this week; {skipped} left out as the room was taken.",
    },
    "prog.undo.create": {"fi": "Kumoa: luonti ({what})", "en": "Undo: creating {what}"},
    "prog.undo.edit": {"fi": "Kumoa: muutos ({what})", "en": "Undo: editing {what}"},
    "prog.undo.edit_following": {
        "fi": "Kumoa: sarjan muutos ({what})",
        "en": "Undo: editing the series {what}",
    },
    "prog.undo.cancel": {"fi": "Kumoa: peruutus ({what})", "en": "Undo: cancelling {what}"},
    "prog.undo.cancel_following": {
        "fi": "Kumoa: sarjan peruutus ({what})",
        "en": "Undo: cancelling the series {what}",
    },
    "prog.undo.copy_week": {"fi": "Kumoa: viikon kopiointi", "en": "Undo: copying the week"},
    "prog.error.title": {
        "fi": "Anna otsikko (enintään 200 merkkiä).",
        "en": "Give a title (at most 200 characters).",
    },
    "prog.error.description": {
        "fi": "Kuvaus on liian pitkä (enintään 4000 merkkiä).",
        "en": "The description is too long (at most 4,000 characters).",
    },
    "prog.error.category": {"fi": "Valitse luokka listalta.", "en": "Pick a category."},
    "prog.error.room": {"fi": "Valitse tila listalta.", "en": "Pick a room."},
    "prog.error.organiser": {"fi": "Valitse järjestäjä listalta.", "en": "Pick an organiser."},
    "prog.error.date": {
        "fi": "Anna päivä muodossa vvvv-kk-pp.",
        "en": "Give the date as yyyy-mm-dd.",
    },
    "prog.error.time": {"fi": "Anna alkamisaika, esim. 18:00.", "en": "Give the time, e.g. 18:00."},
    "prog.error.minutes": {
        "fi": "Anna kesto minuutteina (1–1440).",
        "en": "Give the length in minutes (1–1440).",
    },
    "prog.error.mode": {"fi": "Valitse lähetys tai ryhmä.", "en": "Pick broadcast or group."},
    "prog.error.visibility": {
        "fi": "Valitse julkinen tai yksityinen.",
        "en": "Pick public or private.",
    },
    "prog.error.online": {
        "fi": "Vain paikan päällä olevaa tapahtumaa ei voi näyttää muissa kirjastoissa.",
        "en": "An in-person-only session cannot be shown in other libraries.",
    },
    "prog.error.receivers": {
        "fi": "Tapahtumaa ei voi näyttää sen omassa kirjastossa; valitse muita kirjastoja.",
        "en": "A session cannot be shown in its own library; pick other libraries.",
    },
    "prog.error.weekdays": {
        "fi": "Valitse viikonpäivät ja kerro, milloin sarja päättyy.",
        "en": "Pick the weekdays and say when the series ends.",
    },
    "prog.error.until": {
        "fi": "Anna viimeinen päivä: aikaisintaan ensimmäisenä päivänä, enintään vuoden päähän.",
        "en": "Give the last date: not before the first, at most a year ahead.",
    },
    "prog.error.count": {
        "fi": "Anna kertojen määrä (1–366, enintään vuoden ajalle).",
        "en": "Give the number of times (1–366, within a year).",
    },
    "prog.error.except": {
        "fi": "Poikkeuspäivien pitää olla sarjan päiviä muodossa vvvv-kk-pp.",
        "en": "Exceptions must be dates of the series, as yyyy-mm-dd.",
    },
    "prog.error.reason": {
        "fi": "Kerro peruutuksen syy (näytetään osallistujille).",
        "en": "Give the reason for cancelling (participants are shown it).",
    },
    "prog.error.device": {"fi": "Valitse tabletti listalta.", "en": "Pick a tablet."},
    "prog.error.room_taken": {
        "fi": "Tila on jo varattu tähän aikaan.",
        "en": "The room is already booked at this time.",
    },
    "org.title": {"fi": "Järjestäjät", "en": "Organisers"},
    "org.intro": {
        "fi": "Toiminnan tuottajat: kaupungin palvelut, yhdistykset, kumppanit ja asukkaat. "
        "Raporttien järjestäjämäärä laskee nämä.",
        "en": "Who produces the activities: city services, associations, partners and "
        "residents. The reports' organisers figure counts these.",
    },
    "org.saved": {"fi": "Tallennettu.", "en": "Saved."},
    "org.edit": {"fi": "Muuta järjestäjää", "en": "Edit organiser"},
    "org.edit_hint": {
        "fi": "Valitse nimi muuttaaksesi sen tietoja.",
        "en": "Click a name to edit it.",
    },
    "org.back": {"fi": "← Järjestäjät", "en": "← Organisers"},
    "org.col.name": {"fi": "Nimi", "en": "Name"},
    "org.col.kind": {"fi": "Tyyppi", "en": "Kind"},
    "org.col.contact": {"fi": "Kirjaston yhteyshenkilö", "en": "Library contact"},
    "org.col.email": {"fi": "Sähköposti", "en": "E-mail"},
    "org.col.slug": {"fi": "Tunnus", "en": "Slug"},
    "org.add": {"fi": "Lisää järjestäjä", "en": "Add an organiser"},
    "org.submit": {"fi": "Lisää", "en": "Add"},
    "org.field.name": {"fi": "Nimi", "en": "Name"},
    "org.field.kind": {"fi": "Tyyppi", "en": "Kind"},
    "org.field.contact_person": {"fi": "Kirjaston yhteyshenkilö", "en": "Library contact person"},
    "org.field.contact_email": {"fi": "Yhteyssähköposti", "en": "Contact e-mail"},
    "org.kind.city": {"fi": "Kaupunki", "en": "City"},
    "org.kind.association": {"fi": "Yhdistys", "en": "Association"},
    "org.kind.partner": {"fi": "Kumppani", "en": "Partner"},
    "org.kind.resident": {"fi": "Asukkaat", "en": "Residents"},
    "org.error.name": {"fi": "Anna nimi (1–160 merkkiä).", "en": "Give a name (1–160 characters)."},
    "org.error.slug": {
        "fi": "Samanniminen järjestäjä on jo olemassa.",
        "en": "An organiser with this name already exists.",
    },
    "org.error.contact_email": {
        "fi": "Sähköpostiosoite ei kelpaa.",
        "en": "The e-mail address is not valid.",
    },
    "audit.title": {"fi": "Muutosloki", "en": "Audit log"},
    "audit.intro": {
        "fi": "Jokainen henkilökunnan tekemä muutos: kuka, mitä, milloin, ennen ja jälkeen.",
        "en": "Every change staff made: who, what, when, before and after.",
    },
    "audit.col.when": {"fi": "Milloin", "en": "When"},
    "audit.col.who": {"fi": "Kuka", "en": "Who"},
    "audit.col.action": {"fi": "Mitä", "en": "What"},
    "audit.col.target": {"fi": "Kohde", "en": "Target"},
    "audit.col.change": {"fi": "Muutos", "en": "Change"},
    "audit.show": {"fi": "Näytä", "en": "Show"},
    "audit.before": {"fi": "Ennen", "en": "Before"},
    "audit.after": {"fi": "Jälkeen", "en": "After"},
    "audit.undone": {"fi": "kumottu", "en": "undone"},
    "audit.older": {"fi": "Vanhemmat →", "en": "Older →"},
    "audit.empty": {"fi": "Ei vielä muutoksia.", "en": "No changes yet."},
    "card.how": {
        "fi": "Osallistu tabletilla tai tietokoneella: avaa osoite ja anna koodi.",
        "en": "Take part on a tablet or a computer: open the address and give the code.",
    },
    "card.code": {"fi": "Liittymiskoodi", "en": "Join code"},
    "card.qr_alt": {
        "fi": "QR-koodi, joka avaa tapahtuman",
        "en": "QR code that opens the session",
    },
    "card.note": {
        "fi": "Sama koodi toimii joka kerta. Kameraa ei tarvitse laittaa päälle.",
        "en": "The same code works every time. You need not turn your camera on.",
    },
    "tablet.cancelled": {"fi": "Peruttu: {reason}", "en": "Cancelled: {reason}"},
    "tablet.code_in_person": {
        "fi": "{title} on vain paikan päällä; sitä ei lähetetä verkossa.",
        "en": "{title} is in person only; it is not streamed.",
    },
    "card.in_person": {
        "fi": "Tervetuloa paikan päälle! Tapahtumaa ei lähetetä verkossa.",
        "en": "Welcome in person! The session is not streamed online.",
    },
    # -- the pages as their users meet them (tablet home, presenter, staff) ---
    "tablet.own_heading": {"fi": "Omat ryhmäsi tänään", "en": "Your groups today"},
    "tablet.no_own_today": {
        "fi": "Sinulla ei ole ryhmiä tänään.",
        "en": "You have no groups today.",
    },
    "tablet.own_next": {
        "fi": "Seuraava ryhmäsi: {title}, {when}.",
        "en": "Your next group: {title}, {when}.",
    },
    "tablet.invited": {"fi": "Sinut on kutsuttu", "en": "You are invited"},
    "tablet.not_yet_at": {
        "fi": "Voit liittyä klo {time} alkaen.",
        "en": "You can join from {time}.",
    },
    "tablet.overran": {
        "fi": "Aikataulun mukaan päättyi klo {time}; voit vielä liittyä.",
        "en": "Scheduled to end at {time}; you can still join.",
    },
    "tablet.code_heading": {"fi": "Onko sinulla liittymiskoodi?", "en": "Do you have a join code?"},
    "tablet.code_hint": {
        "fi": "Koodin saat hoitajalta tai kirjastosta.",
        "en": "Your nurse or the library gives you the code.",
    },
    "tablet.code_empty": {"fi": "Kirjoita ensin koodi.", "en": "Type the code first."},
    "tablet.code_checking": {"fi": "Tarkistetaan koodia…", "en": "Checking the code…"},
    "tablet.code_unknown": {
        "fi": "Tällä koodilla ei löytynyt tapahtumaa. Tarkista koodi.",
        "en": "No session has this code. Please check it.",
    },
    "tablet.code_ended": {"fi": "{title} on jo päättynyt.", "en": "{title} has already ended."},
    "tablet.code_not_yet": {
        "fi": "{title}: {when}. Voit liittyä puoli tuntia ennen alkua.",
        "en": "{title}: {when}. You can join half an hour before the start.",
    },
    "tablet.more": {"fi": "Muut kirjaston tapahtumat", "en": "Other library sessions"},
    "tablet.more_count": {
        "fi": "Kirjaston muu ohjelma ({n})",
        "en": "Other library sessions ({n})",
    },
    "call.waiting_group": {
        "fi": "Odotetaan muita osallistujia…",
        "en": "Waiting for the others to join…",
    },
    "call.leader": {"fi": "Ohjaaja", "en": "Leader"},
    "call.stage_group": {"fi": "Ryhmän kuvat", "en": "The group's pictures"},
    "host.title_group": {"fi": "Ryhmän ohjaaja", "en": "Group leader"},
    "host.connect_group": {"fi": "Avaa ryhmä", "en": "Open the group"},
    "host.end_group": {"fi": "Päätä ryhmä", "en": "End the group"},
    "host.join_code": {"fi": "Liittymiskoodi:", "en": "Join code:"},
    "host.join_link": {"fi": "tai osoite", "en": "or the address"},
    "dash.join_code": {"fi": "Koodi", "en": "Code"},
    "dash.private": {"fi": "yksityinen", "en": "private"},
    "dash.open_page": {"fi": "Avaa tapahtuman sivu", "en": "Open the session page"},
    "dash.open_page_label": {
        "fi": "Avaa tapahtuman sivu: {title}",
        "en": "Open the session page: {title}",
    },
    "devices.revoke_title": {
        "fi": "Perutaanko laitteen käyttöoikeus?",
        "en": "Revoke this device?",
    },
    "devices.revoke_explain": {
        "fi": "Laite lakkaa toimimasta heti: sen yhteydet katkaistaan ja se näyttää ilmoituksen. "
        "Voit palauttaa käyttöoikeuden tällä sivulla, jos perut vahingossa.",
        "en": "The device stops working at once: its connections are closed and it shows a "
        "notice. You can restore it on the devices page if this was a mistake.",
    },
    "devices.revoke_yes": {"fi": "Kyllä, peru käyttöoikeus", "en": "Yes, revoke it"},
    "devices.already_revoked": {
        "fi": "Tämän laitteen käyttöoikeus on jo peruttu.",
        "en": "This device is already revoked.",
    },
    "devices.revoked_done": {
        "fi": "Laitteen {name} käyttöoikeus peruttiin.",
        "en": "{name} has been revoked.",
    },
    "devices.undo": {"fi": "Palauta käyttöoikeus", "en": "Restore"},
    "reports.key_figures": {"fi": "Tärkeimmät luvut", "en": "Key figures"},
    "reports.key.total": {"fi": "Osallistujia yhteensä", "en": "Participants in all"},
    "reports.key.in_person": {"fi": "Paikan päällä", "en": "In person"},
    "reports.key.online": {"fi": "Verkossa", "en": "Online"},
    "reports.key.sessions": {"fi": "Toteutuneet tilaisuudet", "en": "Sessions held"},
    "reports.key.per_1000": {"fi": "Osallistujia / 1 000 asukasta", "en": "Per 1,000 residents"},
    "reports.key.satisfaction": {"fi": "Tyytyväisyys (1–5)", "en": "Satisfaction (1–5)"},
    "reports.table_by": {"fi": "Osallistujat: {group}", "en": "Participants by {group}"},
    "reports.all_columns": {
        "fi": "Kaikki sarakkeet (tunnit, lyhyet käynnit, tyytyväisyys…)",
        "en": "All columns (hours, brief visits, satisfaction…)",
    },
    "reports.page.sessions_held": {"fi": "tilaisuudet", "en": "sessions"},
    "reports.page.in_person": {"fi": "paikan päällä", "en": "in person"},
    "reports.page.online": {"fi": "verkossa", "en": "online"},
    "reports.page.total": {"fi": "yhteensä", "en": "total"},
    "reports.page.per_1000.total": {"fi": "/ 1 000 asukasta", "en": "per 1,000 residents"},
    "reports.page.in_person_receiving": {
        "fi": "josta vastaanottavilla näytöillä",
        "en": "of which at receiving screens",
    },
    "reports.of_which_receiving": {
        "fi": "josta {n} vastaanottavilla näytöillä",
        "en": "of which {n} at receiving screens",
    },
    "reports.rule": {
        "fi": "Lähetyksen tilaisuus ja tunnit lasketaan sen pitäjälle; sitä näytöltä seuranneet "
        "lasketaan oman toimipisteensä (ja alueensa) osallistujiksi. Siksi alueella voi olla "
        "osallistujia ilman omia tilaisuuksia.",
        "en": "A broadcast and its hours count at the venue that held it; the people who "
        "watched it on a screen count at their own venue (and area). So an area can have "
        "participants without sessions of its own.",
    },
    "reports.trend_months": {
        "fi": "Osallistujat kuukausittain, {start}–{end}: yhteensä, paikan päällä ja verkossa.",
        "en": "Participants by month, {start} to {end}: total, in person and online.",
    },
    "reports.unfinished": {"fi": "{month} (kesken)", "en": "{month} (so far)"},
    "reports.unfinished_note": {
        "fi": "Kuluva kuukausi on kesken (luvut {day} asti), siksi sen viiva on katkoviiva.",
        "en": "This month is not over (figures up to {day}), so its line is dashed.",
    },
    "index.live_now": {"fi": "Käynnissä nyt", "en": "On now"},
    "index.later_today": {"fi": "Myöhemmin tänään", "en": "Later today"},
    "index.tomorrow": {"fi": "Huomenna", "en": "Tomorrow"},
    "index.day_count": {"fi": "{n} tapahtumaa", "en": "{n} sessions"},
    "index.day_count_one": {"fi": "1 tapahtuma", "en": "1 session"},
    "notfound.try_again": {"fi": "Kokeile koodia uudelleen", "en": "Try the code again"},
    # -- public programme page (issue 17) ---------------------------------------------------
    "programme.title": {"fi": "Ohjelma", "en": "Programme"},
    "programme.heading": {
        "fi": "Tapahtumat kirjastoissa ja etänä",
        "en": "Activities in libraries and online",
    },
    "programme.lead": {
        "fi": "Kaikki tapahtumat ovat maksuttomia. Sinun ei tarvitse ilmoittautua.",
        "en": "Every activity is free. You do not need to register.",
    },
    "programme.filters": {"fi": "Rajaa tapahtumia", "en": "Narrow down"},
    "programme.filter_area": {"fi": "Alue", "en": "Area"},
    "programme.filter_venue": {"fi": "Kirjasto", "en": "Library"},
    "programme.filter_category": {"fi": "Aihe", "en": "Kind of activity"},
    "programme.filter_all": {"fi": "Kaikki", "en": "All"},
    "programme.filter_online": {
        "fi": "Vain tapahtumat, joihin voi osallistua etänä",
        "en": "Only activities you can join online",
    },
    "programme.filter_submit": {"fi": "Näytä", "en": "Show"},
    "programme.filter_clear": {"fi": "Näytä kaikki tapahtumat", "en": "Show all activities"},
    "programme.today": {"fi": "Tänään, {day}", "en": "Today, {day}"},
    "programme.tomorrow": {"fi": "Huomenna, {day}", "en": "Tomorrow, {day}"},
    "programme.empty": {
        "fi": "Näillä valinnoilla ei löytynyt tapahtumia.",
        "en": "No activities match these choices.",
    },
    "programme.shown_until": {"fi": "Tapahtumat {day} asti.", "en": "Activities until {day}."},
    "programme.more": {"fi": "Näytä myöhemmät tapahtumat", "en": "Show later activities"},
    "programme.where": {"fi": "Paikka", "en": "Where"},
    "programme.also_at": {"fi": "Näytetään myös", "en": "Also shown at"},
    "programme.organiser": {"fi": "Järjestäjä", "en": "Organised by"},
    "programme.free": {
        "fi": "Maksuton, ei ilmoittautumista",
        "en": "Free, no registration",
    },
    "programme.online": {"fi": "Voit osallistua myös etänä", "en": "You can also join online"},
    "programme.in_person": {"fi": "Vain paikan päällä", "en": "In person only"},
    "programme.live": {"fi": "Käynnissä nyt", "en": "On now"},
    "programme.join": {"fi": "Liity", "en": "Join"},
    "programme.join_label": {"fi": "Liity: {title}", "en": "Join: {title}"},
    "programme.cancelled": {"fi": "Peruttu", "en": "Cancelled"},
    "programme.cancel_reason": {"fi": "Syy: {reason}", "en": "Reason: {reason}"},
    "programme.board_heading_at": {"fi": "Ohjelma: {place}", "en": "Programme: {place}"},
    "programme.board_empty": {
        "fi": "Lähipäivinä ei ole tapahtumia.",
        "en": "No activities in the next few days.",
    },
    "site.accessibility": {"fi": "Saavutettavuusseloste", "en": "Accessibility statement"},
    "site.privacy": {"fi": "Tietosuoja", "en": "Privacy"},
    "site.footer_nav": {"fi": "Tietoa palvelusta", "en": "About the service"},
    "a11y.title": {"fi": "Saavutettavuusseloste", "en": "Accessibility statement"},
    "a11y.intro": {
        "fi": "Tämä seloste koskee Kohtaamo-palvelua: ohjelmasivua, tapahtumien liittymissivuja, "
        "kotitabletin sivua ja kirjastojen näyttöjä. Digitaalisten palvelujen tarjoamisesta "
        "annettu "
        "laki (306/2019) edellyttää, että julkiset verkkopalvelut ovat saavutettavia.",
        "en": "This statement covers the Kohtaamo service: the programme page, the sessions' join "
        "pages, the home tablet page and the libraries' screens. The Act on the Provision of "
        "Digital Services (306/2019) requires public online services to be accessible.",
    },
    "a11y.status_heading": {"fi": "Saavutettavuuden tila", "en": "Compliance status"},
    "a11y.status": {
        "fi": "Palvelu täyttää WCAG 2.1 -ohjeiden AA-tason vaatimukset osittain.",
        "en": "The service partially conforms to WCAG 2.1 level AA.",
    },
    "a11y.checked": {
        "fi": "Sivut on tarkistettu automaattisesti axe-core-työkalulla puhelimen, tabletin ja "
        "suuren näytön kokoisina sekä suomeksi että englanniksi. Sivuja käytetään myös "
        "pelkällä näppäimistöllä.",
        "en": "The pages are checked automatically with the axe-core tool at phone, tablet and "
        "large-screen sizes, in Finnish and in English. They can be used with a keyboard alone.",
    },
    "a11y.shortcomings_heading": {"fi": "Tunnetut puutteet", "en": "Known shortcomings"},
    "a11y.gap_captions": {
        "fi": "Videolähetyksissä ei vielä ole tekstitystä (WCAG 1.2.4). Tekstitys on tulossa.",
        "en": "Video streams have no captions yet (WCAG 1.2.4). Captions are being developed.",
    },
    "a11y.gap_recordings": {
        "fi": "Tallenteissa ei ole tekstitystä eikä kuvailutulkkausta (WCAG 1.2.2, 1.2.5).",
        "en": "Recordings have no captions or audio description (WCAG 1.2.2, 1.2.5).",
    },
    "a11y.gap_kiosk": {
        "fi": "Kirjaston näyttö liittyy tapahtumaan ja poistuu siitä itsestään ohjelman mukaan. "
        "Siirtymää ei voi keskeyttää näytöltä (WCAG 2.2.2).",
        "en": "A library's screen joins and leaves sessions by itself, as the programme says. "
        "This cannot be paused from the screen (WCAG 2.2.2).",
    },
    "a11y.gap_chat": {
        "fi": "Ryhmätapahtumissa muiden osallistujien video ja ääni tulevat heidän laitteistaan. "
        "Emme voi taata niiden laatua.",
        "en": "In group sessions, other participants' video and sound come from their own "
        "devices. We cannot guarantee their quality.",
    },
    "a11y.feedback_heading": {"fi": "Anna palautetta", "en": "Feedback"},
    "a11y.feedback": {
        "fi": "Huomasitko puutteen? Kerro siitä meille. Vastaamme 14 päivän kuluessa.",
        "en": "Did you notice a problem? Tell us. We reply within 14 days.",
    },
    "a11y.feedback_email": {"fi": "Sähköposti:", "en": "E-mail:"},
    "a11y.feedback_staff": {
        "fi": "Voit myös kertoa palautteesi kirjaston henkilökunnalle.",
        "en": "You can also give your feedback to the library staff.",
    },
    "a11y.enforcement_heading": {"fi": "Valvontaviranomainen", "en": "Enforcement"},
    "a11y.enforcement": {
        "fi": "Jos et ole tyytyväinen vastaukseen tai et saa vastausta 14 päivässä, voit tehdä "
        "ilmoituksen valvontaviranomaiselle. Sivulla saavutettavuusvaatimukset.fi kerrotaan, "
        "miten ilmoitus tehdään.",
        "en": "If you are not satisfied with our reply, or you get no reply within 14 days, you "
        "can notify the enforcement authority. The site saavutettavuusvaatimukset.fi tells how.",
    },
    "a11y.authority": {
        "fi": "Liikenne- ja viestintävirasto Traficom, saavutettavuuden valvonta",
        "en": "Finnish Transport and Communications Agency Traficom, accessibility supervision",
    },
    "a11y.authority_phone": {
        "fi": "Puhelin (vaihde): 029 534 5000",
        "en": "Telephone (switchboard): +358 29 534 5000",
    },
    "a11y.prepared": {
        "fi": "Seloste on laadittu {date}.",
        "en": "This statement was prepared on {date}.",
    },
    "privacy.title": {"fi": "Tietosuoja", "en": "Privacy"},
    "privacy.intro": {
        "fi": "Voit osallistua ilman tunnusta ja ilman nimeä. Tällä sivulla kerrotaan, mitä "
        "tietoja palvelu tallentaa, miksi ja kuinka kauan.",
        "en": "You can take part without an account and without a name. This page tells what "
        "the service stores, why, and for how long.",
    },
    "privacy.stored_heading": {"fi": "Mitä tallennetaan", "en": "What is stored"},
    "privacy.attendance": {
        "fi": "Osallistuminen: mihin tapahtumaan liityit, millä tavalla (esimerkiksi tabletilla) "
        "ja kuinka kauan olit mukana. Emme tallenna nimeä, IP-osoitetta emmekä laitteen "
        "tunnistetta.",
        "en": "Taking part: which session you joined, how (for example on a tablet) and for how "
        "long. We store no name, no IP address and no device identifier.",
    },
    "privacy.attendance_why": {
        "fi": "Miksi: kaupunki raportoi, kuinka moni osallistuu ja millä alueilla.",
        "en": "Why: the city reports how many people take part, and in which areas.",
    },
    "privacy.survey": {
        "fi": "Palaute: tapahtuma ja antamasi arvio (1–5). Ei muuta.",
        "en": "Feedback: the session and the score you gave (1–5). Nothing else.",
    },
    "privacy.chat": {
        "fi": "Chat-viestejä ei tallenneta. Ne ovat muistissa vain tapahtuman ajan.",
        "en": "Chat messages are never stored. They are kept in memory only during the session.",
    },
    "privacy.recordings": {
        "fi": "Tallenteet: vain esiintyjän lähetys voidaan tallentaa. Ryhmätapahtumia ei "
        "tallenneta. Näet sivulla merkin, kun tallennus on päällä.",
        "en": "Recordings: only the presenter's broadcast can be recorded. Group sessions are "
        "never recorded. Your page shows a sign while recording is on.",
    },
    "privacy.logs": {
        "fi": "Palvelimen lokeihin ei kirjoiteta osoitteita eikä tunnuksia.",
        "en": "The server's logs hold no addresses and no tokens.",
    },
    "privacy.how_long_heading": {"fi": "Kuinka kauan", "en": "For how long"},
    "privacy.recordings_days": {
        "fi": "Tallenteet poistetaan {days} päivän kuluttua.",
        "en": "Recordings are deleted after {days} days.",
    },
    "privacy.recordings_kept": {
        "fi": "Tallenteita ei poisteta automaattisesti. Kirjasto poistaa ne käsin.",
        "en": "Recordings are not deleted automatically. The library deletes them by hand.",
    },
    "privacy.attendance_days": {
        "fi": "Osallistumistiedot poistetaan {days} päivän kuluttua. "
        "Raportteihin jäävät vain määrät.",
        "en": "Attendance details are deleted after {days} days. Reports keep only the counts.",
    },
    "privacy.attendance_kept": {
        "fi": "Osallistumistiedot säilytetään, kunnes kirjasto poistaa ne. "
        "Raportteihin jäävät vain määrät.",
        "en": "Attendance details are kept until the library deletes them. "
        "Reports keep only the counts.",
    },
    "privacy.contact_heading": {"fi": "Kysyttävää?", "en": "Questions?"},
    "privacy.contact": {
        "fi": "Kysy kirjaston henkilökunnalta tai kirjoita meille.",
        "en": "Ask the library staff, or write to us.",
    },
    # -- public programme feeds and cards (issue 17) --------------------------------------------
    "feed.calendar_name": {
        "fi": "Kohtaamo: kirjastojen ohjelma",
        "en": "Kohtaamo: library programme",
    },
    "feed.cancelled": {"fi": "PERUTTU: {reason}", "en": "CANCELLED: {reason}"},
    "feed.cancelled_summary": {"fi": "Peruttu: {title}", "en": "Cancelled: {title}"},
    "feed.organiser": {"fi": "Järjestäjä: {organiser}", "en": "Organiser: {organiser}"},
    "feed.free": {"fi": "Maksuton, ei ilmoittautumista.", "en": "Free, no registration."},
    "feed.online": {
        "fi": "Tule paikan päälle tai osallistu verkossa: {url}",
        "en": "Come in person or join online: {url}",
    },
    "feed.in_person": {
        "fi": "Vain paikan päällä, ei verkossa. {url}",
        "en": "In person only, not online. {url}",
    },
    "cards.rule": {
        "fi": "joka {days} klo {start}–{end} {until}",
        "en": "every {days} {start}–{end} {until}",
    },
    "cards.rule.until": {"fi": "{date} asti", "en": "until {date}"},
    "cards.rule.count": {"fi": "({count} kertaa)", "en": "({count} times)"},
    "cards.and": {"fi": "ja", "en": "and"},
    "cards.weekday.mo": {"fi": "maanantai", "en": "Monday"},
    "cards.weekday.tu": {"fi": "tiistai", "en": "Tuesday"},
    "cards.weekday.we": {"fi": "keskiviikko", "en": "Wednesday"},
    "cards.weekday.th": {"fi": "torstai", "en": "Thursday"},
    "cards.weekday.fr": {"fi": "perjantai", "en": "Friday"},
    "cards.weekday.sa": {"fi": "lauantai", "en": "Saturday"},
    "cards.weekday.su": {"fi": "sunnuntai", "en": "Sunday"},
    "cards.once": {"fi": "{when}–{end}", "en": "{when}–{end}"},
    "cards.organiser": {"fi": "Järjestäjä: {organiser}", "en": "Organiser: {organiser}"},
    "cards.free": {"fi": "Maksuton. Ei ilmoittautumista.", "en": "Free. No registration."},
    "cards.how": {
        "fi": "Tule paikalle tai osallistu tabletilla, puhelimella tai tietokoneella: "
        "lue QR-koodi tai avaa osoite ja anna koodi.",
        "en": "Come in person or take part on a tablet, phone or computer: "
        "scan the QR code, or open the address and give the code.",
    },
    "cards.cancelled": {"fi": "Peruttu: {reason}", "en": "Cancelled: {reason}"},
    "cards.card_link": {"fi": "Kortti (A6)", "en": "Card (A6)"},
    "cards.poster_link": {"fi": "Juliste (A4)", "en": "Poster (A4)"},
    "cards.print": {"fi": "Tulosta", "en": "Print"},
    "cards.forbidden_body": {
        "fi": "Yksityisen ryhmän kortin avaa ryhmän vetäjän linkki "
        "tai henkilökunnan kirjautuminen.",
        "en": "A private group's card opens with the group leader's link or a staff login.",
    },
}

_WEEKDAYS = {
    "fi": ("ma", "ti", "ke", "to", "pe", "la", "su"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}
_WEEKDAY_NAMES = {
    "fi": ("maanantai", "tiistai", "keskiviikko", "torstai", "perjantai", "lauantai", "sunnuntai"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
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


def format_day(day: dt.date, lang: str) -> str:
    """A day as a heading: ``perjantai 4.12.`` / ``Friday 4 Dec``."""
    if lang == "en":
        return f"{_WEEKDAY_NAMES['en'][day.weekday()]} {day.day} {_MONTHS_EN[day.month - 1]}"
    return f"{_WEEKDAY_NAMES['fi'][day.weekday()]} {day.day}.{day.month}."


def format_date(day: dt.date, lang: str) -> str:
    """A full date: ``3.12.2026`` / ``3 Dec 2026``."""
    if lang == "en":
        return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"
    return f"{day.day}.{day.month}.{day.year}"


def format_time(moment: dt.datetime, lang: str) -> str:
    """A clock time alone (the end of a session): ``19.30`` / ``19:30``."""
    local = moment.astimezone(CITY_TZ)
    return f"{local:%H:%M}" if lang == "en" else f"{local.hour}.{local:%M}"


def missing_translations(messages: Mapping[str, Mapping[str, str]] = MESSAGES) -> list[str]:
    """Ids lacking a language; a test keeps this empty."""
    return [key for key, entry in messages.items() if any(not entry.get(x) for x in LANGUAGES)]
