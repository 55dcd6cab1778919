"""Starting and stopping a broadcast's recording over HTTP (for broadcast tools and staff).

``POST /api/sessions/{id}/recording`` with ``{"on": bool}`` and ``GET`` for the state. Allowed
to whoever may publish into the session (its publish or host token as ``Authorization:
Bearer``) and to staff (an API token ``ks_…``, or a login with its CSRF token).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from stream_server.catalog import service as catalog
from stream_server.db.models import Session
from stream_server.errors import BadRequest, Forbidden
from stream_server.live import recording
from stream_server.staff import audit, scope
from stream_server.staff import service as staff
from stream_server.staff.service import StaffIdentity
from stream_server.web.auth import bearer_token, require_staff
from stream_server.web.json_body import read_json_object
from stream_server.web.keys import DATABASE, LIVE, SETTINGS

routes = web.RouteTableDef()


async def _authorised_session(request: web.Request) -> tuple[Session, StaffIdentity | None]:
    """The live session named in the path, if the caller may control its recording, and the
    staff member asking (None for a publish or host token)."""
    session = await request.app[LIVE].load_session(request.match_info["session_id"])
    token = bearer_token(request)
    if token is not None and not token.startswith(staff.API_TOKEN_PREFIX):
        if not catalog.may_publish(session, token):
            raise Forbidden("wrong publish or host token", code="token_invalid")
        return session, None
    identity = await require_staff(request)  # 401 login_required without any credential
    scope.require_manage_session(identity, session)
    return session, identity


@routes.get("/api/sessions/{session_id}/recording")
async def recording_status(request: web.Request) -> web.Response:
    session, _ = await _authorised_session(request)
    return web.json_response(request.app[LIVE].recording_status(session.id))


@routes.post("/api/sessions/{session_id}/recording")
async def set_recording(request: web.Request) -> web.Response:
    session, identity = await _authorised_session(request)
    body = await read_json_object(request)
    on = body.get("on")
    if not isinstance(on, bool):
        raise BadRequest("'on' must be true or false", code="invalid_recording_request")
    result = await request.app[LIVE].set_recording(session, on)
    if identity is not None:
        async with request.app[DATABASE].session() as db:
            await audit.record(db, identity, "recording", "session", session.id, None, {"on": on})
    return web.json_response(result)


async def _retention(app: web.Application) -> AsyncIterator[None]:
    """Expired recordings are deleted at start-up and once a day (recordings still running at
    shutdown are finished when their live sessions close)."""
    settings = app[SETTINGS]
    task = asyncio.create_task(
        recording.retention_loop(settings.recordings_dir, settings.recording_retention_days)
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def setup(app: web.Application) -> None:
    app.add_routes(routes)
    app.cleanup_ctx.append(_retention)
