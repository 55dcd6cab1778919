"""Rendering pages: language choice, shared template context and security headers.

Every HTML page (participant, kiosk, staff) goes through :func:`render`, so they all get the
same headers and the same translator.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web

from stream_server.basics import absolute_url as _absolute
from stream_server.i18n import Catalogs, Translator
from stream_server.web.keys import CATALOGS, SETTINGS

#: Only our own scripts and styles; media and WebSocket to this origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def catalogs(request: web.Request) -> Catalogs:
    return request.app[CATALOGS]


def language(request: web.Request) -> str:
    return catalogs(request).negotiate(
        request.query.get("lang"), request.headers.get("Accept-Language")
    )


def translator(request: web.Request) -> Translator:
    """The one translation function of a request, in the language it negotiated."""
    return catalogs(request).translator(language(request))


def switch_url(request: web.Request, lang: str) -> str:
    """The same page in ``lang``, keeping ``?token=`` and ``?channel=``."""
    query = [(k, v) for k, v in request.query.items() if k != "lang"]
    query.append(("lang", lang))
    return f"{request.path}?{urlencode(query)}"


def other_languages(request: web.Request, lang: str) -> list[dict[str, str]]:
    """A link to this page in every other language, each named in its own language."""
    found = catalogs(request)
    return [
        {
            "lang": other,
            "url": switch_url(request, other),
            "label": found.translate("site.this_language", other),
        }
        for other in found.languages
        if other != lang
    ]


def link(request: web.Request, path: str) -> str:
    """An internal link that keeps a language the person picked with ``?lang=``."""
    if catalogs(request).supported(request.query.get("lang")):
        return f"{path}?{urlencode({'lang': request.query['lang']})}"
    return path


def base_url(request: web.Request) -> str:
    """The server's address for links that leave it: ``public_url`` when set, otherwise
    the origin this request was sent to."""
    return request.app[SETTINGS].public_url or f"{request.scheme}://{request.host}"


def absolute_url(request: web.Request, path: str) -> str:
    """``path`` as an absolute link (feeds, cards, QR codes, links to copy)."""
    return _absolute(base_url(request), path)


def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    translate = translator(request)
    lang = translate.lang
    base: dict[str, Any] = {
        "lang": lang,
        "_": translate,
        "other_languages": other_languages(request, lang),
        "home_url": link(request, "/"),
        "page_scripts": [],
        "config": None,
        "title": None,
    }
    base.update(context)
    response = aiohttp_jinja2.render_template(template, request, base, status=status)
    # Join codes and host tokens live in URLs: never leak them in a Referer.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Vary"] = "Accept-Language"
    response.headers["Cache-Control"] = "no-store"
    return response


def out_of_scope_page(request: web.Request) -> web.Response:
    """A staff page beyond the person's role (the HTML twin of ``403 out_of_scope``)."""
    return render(
        request,
        "notice.html",
        {
            "title": translator(request)("scope.heading"),
            "heading": "scope.heading",
            "body": "scope.body",
            "kind": "out-of-scope",
        },
        status=403,
    )
