"""The audit log: every change staff make, with who, what, when, and before and after.

Entries are written in the same transaction as the change itself, so a change that is
rolled back leaves no entry and a committed one always has one. ``before`` and ``after``
are JSON snapshots of what changed (never a token or a password); for the programme they
are ``{"sessions": {id: snapshot or null}, "series": {id: snapshot or null}}`` (null: it
did not exist), which is also what the planning page's undo restores from.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stream_server.basics import CITY_TZ, utcnow
from stream_server.db.models import AuditEntry
from stream_server.staff.service import StaffIdentity

#: Who the command line is in the log (it has no staff account).
COMMAND_LINE = "kohtaamo (command line)"
MAX_PAGE = 200
#: Set in a unit of work's ``info`` when it changed what the public programme shows; the
#: database's after-commit hook passes it on (see :class:`stream_server.db.engine.Database`).
PROGRAMME_CHANGED = "programme_changed"
#: Audit targets that the public programme shows.
PROGRAMME_TARGETS = frozenset({"session", "series", "organiser"})


async def record(
    db: AsyncSession,
    actor: StaffIdentity | None,
    action: str,
    target_kind: str,
    target_id: str | int,
    before: Any = None,
    after: Any = None,
    now: dt.datetime | None = None,
) -> AuditEntry:
    """Write one entry in the caller's transaction."""
    entry = AuditEntry(
        at=now or utcnow(),
        staff_id=actor.staff_id if actor is not None else None,
        staff_name=actor.name if actor is not None else COMMAND_LINE,
        action=action,
        target_kind=target_kind,
        target_id=str(target_id),
        before=None if before is None else json.dumps(before, ensure_ascii=False),
        after=None if after is None else json.dumps(after, ensure_ascii=False),
    )
    db.add(entry)
    await db.flush()
    if target_kind in PROGRAMME_TARGETS:
        db.info[PROGRAMME_CHANGED] = True
    return entry


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at.astimezone(CITY_TZ).isoformat(),
        "staff": entry.staff_name,
        "staff_id": entry.staff_id,
        "action": entry.action,
        "target": {"kind": entry.target_kind, "id": entry.target_id},
        "before": None if entry.before is None else json.loads(entry.before),
        "after": None if entry.after is None else json.loads(entry.after),
        "undone_at": entry.undone_at.astimezone(CITY_TZ).isoformat() if entry.undone_at else None,
    }


async def list_entries(
    db: AsyncSession,
    *,
    before_id: int | None = None,
    limit: int = 50,
    target_kind: str | None = None,
    target_id: str | None = None,
) -> list[AuditEntry]:
    """Newest first; page on with ``before_id`` (the last id of the previous page)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(max(1, min(limit, MAX_PAGE)))
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if target_kind is not None:
        query = query.where(AuditEntry.target_kind == target_kind)
    if target_id is not None:
        query = query.where(AuditEntry.target_id == target_id)
    return list((await db.scalars(query)).all())
