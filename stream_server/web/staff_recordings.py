"""Staff manage recordings: ``/staff/recordings`` lists, downloads and deletes them.

Recordings hold faces and voices (docs/privacy.md), so only staff reach them: the list and
the downloads need a login (or a staff API token), and deleting is a confirmation page whose
form carries the login's CSRF token. Only the server's own file names are served, never a
path, and never a file still being written. Every download and deletion is logged with the
staff member's name (the audit trail), never an address.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from babel.numbers import format_decimal
from sqlalchemy import select

from stream_server.db.models import Session
from stream_server.i18n import Translator
from stream_server.live import recording
from stream_server.live.recording import RecordingFile
from stream_server.staff import scope
from stream_server.staff.service import StaffIdentity
from stream_server.web.auth import require_staff, require_staff_page
from stream_server.web.keys import DATABASE, SETTINGS
from stream_server.web.rendering import render, translator
from stream_server.web.staff_pages import staff_page_context

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()

PAGE = "/staff/recordings"


def _size(size: int, tr: Translator) -> str:
    megabytes = format_decimal(size / 1_000_000, "0.0", locale=tr.locale)
    return f"{megabytes} MB"


def _directory(request: web.Request) -> Path:
    return Path(request.app[SETTINGS].recordings_dir)


async def _rows(request: web.Request, files: list[RecordingFile]) -> list[dict[str, Any]]:
    tr = translator(request)
    ids = {f.session_id for f in files}
    titles: dict[str, str] = {}
    if ids:
        async with request.app[DATABASE].session() as db:
            rows = await db.execute(select(Session.id, Session.title).where(Session.id.in_(ids)))
            titles = {str(sid): str(title) for sid, title in rows.all()}
    days = request.app[SETTINGS].recording_retention_days
    result = []
    for file in files:
        expires = file.modified_at + dt.timedelta(days=days) if days > 0 else None
        result.append(
            {
                "name": file.name,
                "title": titles.get(file.session_id) or tr("recordings.unknown_session"),
                "started": tr.datetime(file.started_at),
                "size": _size(file.size, tr),
                "expires": tr.datetime(expires) if expires else None,
                "in_progress": file.in_progress,
            }
        )
    return result


async def _one(request: web.Request) -> tuple[Path, dict[str, Any]]:
    """The finished recording named in the path (404 otherwise) and its row."""
    name = request.match_info["name"]
    directory = _directory(request)
    path = await asyncio.to_thread(recording.finished_recording, directory, name)
    if path is None:
        raise web.HTTPNotFound(reason="no such recording")
    files = await asyncio.to_thread(recording.list_recordings, directory)
    row = next(r for r in await _rows(request, files) if r["name"] == name)
    return path, row


def _page_url(request: web.Request, **query: str) -> str:
    """The list, keeping a language picked with ``?lang=en``."""
    if request.query.get("lang") == "en":
        query["lang"] = "en"
    return PAGE + (f"?{urlencode(query)}" if query else "")


@routes.get(PAGE, name="staff_recordings")
async def recordings_page(request: web.Request) -> web.Response:
    identity = await require_staff_page(request)
    scope.require_everywhere(identity, "recordings")
    files = await asyncio.to_thread(recording.list_recordings, _directory(request))
    days = request.app[SETTINGS].recording_retention_days
    return render(
        request,
        "staff_recordings.html",
        {
            **staff_page_context(request, identity, PAGE, "recordings.title"),
            "recordings": await _rows(request, files),
            "retention_days": f"{days:g}" if days > 0 else None,
            "deleted": request.query.get("deleted") == "1",
            "lang_query": "?lang=en" if request.query.get("lang") == "en" else "",
        },
    )


@routes.get(PAGE + "/{name}")
async def download(request: web.Request) -> web.StreamResponse:
    identity = await require_staff_page(request)
    scope.require_everywhere(identity, "recordings")
    path, _ = await _one(request)
    logger.info("staff %s downloaded recording %s", identity.name, path.name)
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "video/x-matroska",
            "Content-Disposition": f'attachment; filename="{path.name}"',
            "Cache-Control": "no-store",
        },
    )


@routes.get(PAGE + "/{name}/delete")
async def confirm_delete(request: web.Request) -> web.Response:
    identity = await require_staff_page(request)
    scope.require_everywhere(identity, "recordings")
    _, row = await _one(request)
    return _confirmation(request, identity, row)


def _confirmation(
    request: web.Request, identity: StaffIdentity, row: dict[str, Any]
) -> web.Response:
    return render(
        request,
        "staff_recording_delete.html",
        {
            **staff_page_context(request, identity, PAGE, "recordings.confirm_title"),
            "recording": row,
            "back_url": _page_url(request),
            "lang_query": "?lang=en" if request.query.get("lang") == "en" else "",
        },
    )


@routes.post(PAGE + "/{name}/delete")
async def delete(request: web.Request) -> web.StreamResponse:
    """Delete after the confirmation page (its form carries the CSRF token)."""
    identity = await require_staff(request)
    scope.require_everywhere(identity, "recordings")
    path, _ = await _one(request)
    await asyncio.to_thread(recording.delete_recording, path.parent, path.name)
    logger.info("staff %s deleted recording %s", identity.name, path.name)
    raise web.HTTPSeeOther(_page_url(request, deleted="1"))
