"""Recording broadcasts: who may start it, telling everyone, stopping it, and retention.

The media work is :class:`stream_server.media.recorder.Recorder`; this layer decides when it
runs (the host or a broadcast tool asks; it stops when the session ends or its room
empties), tells every participant over the signaling socket, and deletes old files.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream_server.db.models import Session, SessionMode
from stream_server.errors import Conflict, Forbidden
from stream_server.media.recorder import Recorder

if TYPE_CHECKING:
    from stream_server.services.live import LiveService

logger = logging.getLogger(__name__)

RECORDING_SUFFIXES = (".mkv", ".mkv.part")


def purge_old_recordings(directory: Path, retention_days: float, now: float | None = None) -> int:
    """Delete recordings (finished or not) last written more than ``retention_days`` ago.

    Blocking file-system work: run it in a thread. ``retention_days`` <= 0 keeps everything.
    """
    if retention_days <= 0 or not directory.is_dir():
        return 0
    limit = (time.time() if now is None else now) - retention_days * 86400
    deleted = 0
    for path in directory.iterdir():
        if not path.name.endswith(RECORDING_SUFFIXES) or not path.is_file():
            continue
        try:
            if path.stat().st_mtime < limit:
                path.unlink()
                deleted += 1
                logger.info("recording %s deleted (older than %g days)", path.name, retention_days)
        except OSError:
            logger.warning("recording %s could not be deleted", path.name, exc_info=True)
    return deleted


class RecordingService:
    """The recordings of live sessions (at most one per session), owned by LiveService."""

    def __init__(self, live: LiveService) -> None:
        self._live = live
        self._recorders: dict[str, Recorder] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def recorder(self, session_id: str) -> Recorder | None:
        return self._recorders.get(session_id)

    def is_on(self, session_id: str) -> bool:
        return session_id in self._recorders

    def status(self, session_id: str) -> dict[str, Any]:
        recorder = self._recorders.get(session_id)
        return {
            "recording": recorder is not None,
            "since": recorder.started_at.isoformat() if recorder else None,
        }

    def check_allowed(self, session: Session) -> None:
        """403 when the deployment forbids recording, 409 for groups (not supported)."""
        if not self._live.settings.recording_enabled:
            raise Forbidden("recording is turned off on this server", code="recording_disabled")
        if session.mode == SessionMode.GROUP:
            raise Conflict(
                "group sessions are not recorded (participants' own cameras are never recorded)",
                code="recording_group_unsupported",
            )

    async def set(self, session: Session, on: bool) -> dict[str, Any]:
        """Start or stop recording ``session``; idempotent. Raises 403/409 with the reason."""
        if on:
            self.check_allowed(session)
            if session.id not in self._recorders:
                if not self._live.has_room(session.id):
                    raise Conflict(
                        "nobody is connected to this session: start the broadcast first",
                        code="session_not_live",
                    )
                router = self._live.router(session.id)
                recorder = Recorder(
                    session.id,
                    router.camera,
                    router.audio,
                    self._live.settings.recordings_dir,
                    self._live.settings.video_codec,
                )
                recorder.on_failure = lambda: self._failed(recorder)
                self._recorders[session.id] = recorder
                recorder.start()
                await self._announce(session.id, True)
        elif session.id in self._recorders:
            await self.stop(session.id, "stopped")
        return self.status(session.id)

    async def stop(self, session_id: str, reason: str) -> Path | None:
        recorder = self._recorders.pop(session_id, None)
        if recorder is None:
            return None
        logger.info("%s: stopping (%s)", recorder.label, reason)
        await self._announce(session_id, False)
        return await recorder.stop()

    def _failed(self, recorder: Recorder) -> None:
        """The file could not be written: stop, so nobody is told it is recording."""
        if self._recorders.get(recorder.session_id) is recorder:
            self._spawn(self.stop(recorder.session_id, "write failed"))

    def room_emptied(self, session_id: str) -> None:
        """Nobody is left (the session ended, or everyone left): the recording ends."""
        if session_id in self._recorders:
            self._spawn(self.stop(session_id, "room empty"))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _announce(self, session_id: str, on: bool) -> None:
        people = self._live.conference.participants(session_id)
        message = {"type": "recording", "on": on}
        await asyncio.gather(*(p.send(message) for p in people))

    async def close(self) -> None:
        """Server shutdown: finish every file (renamed, not left as ``.part``)."""
        for session_id in list(self._recorders):
            await self.stop(session_id, "server-shutdown")
        for task in list(self._tasks):
            await asyncio.gather(task, return_exceptions=True)

    async def retention_loop(self, every: dt.timedelta = dt.timedelta(days=1)) -> None:
        """Delete expired recordings now and then once a day."""
        settings = self._live.settings
        while True:
            try:
                await asyncio.to_thread(
                    purge_old_recordings, settings.recordings_dir, settings.recording_retention_days
                )
            except Exception:
                logger.exception("recording clean-up failed")
            await asyncio.sleep(every.total_seconds())
