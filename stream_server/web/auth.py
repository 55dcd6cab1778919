"""Who is asking: staff (login cookie or API token) and registered devices (device token).

Participants never authenticate. Staff log in with a password and get an HttpOnly,
SameSite=Strict cookie; state-changing requests made with that cookie must also carry the
login's CSRF token (header ``X-CSRF-Token`` or form field ``csrf_token``). Scripts use
``Authorization: Bearer ks_…`` instead, which needs no CSRF token (no ambient credential).
"""

from __future__ import annotations

import hmac
import logging
from urllib.parse import urlencode

from aiohttp import web

from stream_server.db.models import Device
from stream_server.devices import service as devices
from stream_server.errors import Forbidden, Unauthorized
from stream_server.staff import service as staff
from stream_server.staff.service import StaffIdentity
from stream_server.web.bodies import read_form
from stream_server.web.keys import DATABASE, SETTINGS

logger = logging.getLogger(__name__)

STAFF_COOKIE = "kohtaamo_staff"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: The identity found for a request, so handlers and helpers look it up once.
STAFF_IDENTITY = web.RequestKey("staff_identity", object)


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def cookie_must_be_secure(request: web.Request) -> bool:
    """From the configuration (``public_url``), never from the request's ``Host`` header."""
    return request.app[SETTINGS].secure_cookies


def set_login_cookie(
    request: web.Request, response: web.StreamResponse, login: staff.NewLogin
) -> None:
    response.set_cookie(
        STAFF_COOKIE,
        login.secret,
        max_age=int(staff.LOGIN_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        secure=cookie_must_be_secure(request),
        samesite="Strict",
    )


def clear_login_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(STAFF_COOKIE, path="/")


async def staff_identity(request: web.Request) -> StaffIdentity | None:
    """The staff member behind this request, if any (cached on the request)."""
    if STAFF_IDENTITY in request:
        cached = request[STAFF_IDENTITY]
        return cached if isinstance(cached, StaffIdentity) else None
    identity = None
    token = bearer_token(request)
    async with request.app[DATABASE].session() as db:
        if token is not None and token.startswith(staff.API_TOKEN_PREFIX):
            identity = await staff.identify_api_token(db, token)
        elif (secret := request.cookies.get(STAFF_COOKIE)) is not None:
            identity = await staff.identify_login(db, secret)
    request[STAFF_IDENTITY] = identity
    return identity


async def csrf_token_from(request: web.Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await read_form(request)
        value = form.get("csrf_token")
        return value if isinstance(value, str) else None
    return None


async def require_staff(request: web.Request) -> StaffIdentity:
    """Staff only; a cookie-authenticated state change must carry the CSRF token."""
    identity = await staff_identity(request)
    if identity is None:
        raise Unauthorized("staff login or a staff API token is needed", code="login_required")
    if request.method not in SAFE_METHODS and identity.csrf_token is not None:
        given = await csrf_token_from(request)
        if given is None or not hmac.compare_digest(
            given.encode("utf-8"), identity.csrf_token.encode("utf-8")
        ):
            raise Forbidden("missing or wrong CSRF token", code="csrf_failed")
    return identity


async def require_staff_page(request: web.Request) -> StaffIdentity:
    """For HTML pages: send a person who is not logged in to the login form."""
    identity = await staff_identity(request)
    if identity is None:
        raise web.HTTPSeeOther("/staff/login?" + urlencode({"next": request.path_qs}))
    return identity


async def device_from_token(request: web.Request, token: str | None = None) -> Device:
    """The registered device behind ``Authorization: Bearer kd_…`` (or ``token``)."""
    token = token if token is not None else bearer_token(request)
    if token is None:
        raise Unauthorized("a device token is needed", code="device_token_invalid")
    async with request.app[DATABASE].session() as db:
        return await devices.authenticate(db, token)


def is_device_token(token: str | None) -> bool:
    return token is not None and token.startswith(devices.DEVICE_TOKEN_PREFIX)
