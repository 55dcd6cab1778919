"""Staff login and logout pages.

A failed login gets the same answer whether the name or the password was wrong, and each
failure is logged with the name (never the password or the client's address) so that guessing
shows up in the logs. Failed logins are throttled per name and address and per address
(:mod:`stream_server.staff.throttle`): a refused attempt gets 429 ``rate_limited`` with
``Retry-After`` and is not hashed at all. Passwords are checked in the app's hashing pool.
"""

from __future__ import annotations

import logging
import math
from urllib.parse import quote, urlsplit, urlunsplit

from aiohttp import web

from stream_server.errors import TooManyRequests
from stream_server.staff import service as staff
from stream_server.web.addresses import client_address
from stream_server.web.auth import (
    STAFF_COOKIE,
    clear_login_cookie,
    require_staff,
    set_login_cookie,
    staff_identity,
)
from stream_server.web.bodies import read_form
from stream_server.web.keys import DATABASE, LOGIN_THROTTLE, PASSWORD_HASHING, SETTINGS
from stream_server.web.rendering import render, translator

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()

#: Where a login goes when it was not sent from elsewhere.
DASHBOARD_PATH = "/staff"
#: Characters a path or query keeps as they are (RFC 3986 unreserved, sub-delims, ``%``).
_URL_SAFE = "/%:@!$&'()*+,;=-._~"


def safe_next(value: str | None) -> str:
    """Only same-origin paths: a login link must not bounce staff to another site.

    Browsers drop tabs and line breaks from a ``Location`` and read ``\\`` as ``/``, so
    ``/\t/evil.example`` is ``//evil.example`` to them: anything with a control character,
    a space or a backslash is refused, and the rest must parse as a bare path (no scheme, no
    host) that does not start with ``//``.
    """
    if not value or len(value) > 2000 or not value.startswith("/"):
        return DASHBOARD_PATH
    if any(ord(char) <= 0x20 or 0x7F <= ord(char) <= 0x9F for char in value) or "\\" in value:
        return DASHBOARD_PATH
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return DASHBOARD_PATH
    if parts.path.startswith("//"):
        return DASHBOARD_PATH
    # Percent-encode what is not ASCII (a header carries ASCII); %-escapes stay as they are.
    path = quote(parts.path, safe=_URL_SAFE)
    return urlunsplit(("", "", path, quote(parts.query, safe=_URL_SAFE + "?"), ""))


def _login_page(
    request: web.Request,
    next_path: str,
    status: int,
    error: str | None = None,
    error_code: str | None = None,
) -> web.Response:
    return render(
        request,
        "staff_login.html",
        {
            "title": translator(request)("staff.login.title"),
            "next_path": next_path,
            "error": error,
            "error_code": error_code,
            "extra_styles": ["staff.css"],
        },
        status=status,
    )


def _wants_html(request: web.Request) -> bool:
    """A browser's form post (it asks for HTML), not a script."""
    return "text/html" in request.headers.get("Accept", "")


def _throttled(request: web.Request, next_path: str, retry_after: int) -> web.Response:
    """429 with ``Retry-After``: the login page for a browser, the JSON error for scripts."""
    if not _wants_html(request):
        raise TooManyRequests(
            f"too many failed logins; try again in {retry_after} s", retry_after=retry_after
        )
    minutes = max(1, math.ceil(retry_after / 60))
    message = translator(request)("staff.login.throttled", minutes=minutes)
    response = _login_page(request, next_path, 429, message, TooManyRequests.code)
    response.headers["Retry-After"] = str(retry_after)
    return response


@routes.get("/staff/login", name="staff_login")
async def login_form(request: web.Request) -> web.StreamResponse:
    next_path = safe_next(request.query.get("next"))
    if await staff_identity(request) is not None:
        raise web.HTTPSeeOther(next_path)
    return _login_page(request, next_path, 200)


@routes.post("/staff/login")
async def login(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    name = str(form.get("name", ""))[:80]
    password = str(form.get("password", ""))[:1024]
    next_path = safe_next(str(form.get("next", "")) or None)
    throttle = request.app[LOGIN_THROTTLE]
    address = client_address(request)  # for the throttle; logged only for an investigation
    retry_after = throttle.begin(name, address)
    if retry_after:
        # The back-off's start is logged (below); each refused attempt only at DEBUG, so that
        # a flood of refused attempts does not become a flood of log lines.
        logger.debug("staff login for %r refused: throttled for %d s more", name, retry_after)
        return _throttled(request, next_path, retry_after)
    new_login = None
    backoff = 0.0
    try:
        new_login = await staff.log_in(
            request.app[DATABASE], name, password, request.app[PASSWORD_HASHING]
        )
    finally:
        # Anything but a login (an error included) counts as a failure.
        if new_login is None:
            backoff = throttle.failed(name, address)
        else:
            throttle.succeeded(name, address)
    # The address only when log_client_addresses is on (an investigation): docs/privacy.md.
    origin = f" from {address}" if request.app[SETTINGS].log_client_addresses else ""
    if new_login is None:
        if backoff:
            logger.warning(
                "staff login failed for %r%s; throttled for %.0f s", name, origin, backoff
            )
        else:
            logger.warning("staff login failed for %r%s", name, origin)
        message = translator(request)("staff.login.failed")
        return _login_page(request, next_path, 401, message, "login_failed")
    logger.info("staff %r logged in%s", name, origin)
    response = web.HTTPSeeOther(next_path)
    set_login_cookie(request, response, new_login)
    raise response


@routes.post("/staff/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    await require_staff(request)  # checks the CSRF token: nobody else may log staff out
    secret = request.cookies.get(STAFF_COOKIE)
    if secret:
        async with request.app[DATABASE].session() as db:
            await staff.end_login(db, secret)
    response = web.HTTPSeeOther("/staff/login")
    clear_login_cookie(response)
    raise response


@routes.get("/api/staff/me")
async def whoami(request: web.Request) -> web.Response:
    """The logged-in staff member and the CSRF token the page's scripts send back.

    Readable only by same-origin scripts (no CORS), so another site cannot learn the token.
    """
    identity = await require_staff(request)
    response = web.json_response(
        {
            "name": identity.name,
            "csrf_token": identity.csrf_token,
            "role": identity.role.value,
            "venue_id": identity.venue_id,
            "organiser_id": identity.organiser_id,
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response
