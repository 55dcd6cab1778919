"""Recording a broadcast: the recorder is just another client of the live session.

The media work is :class:`stream_server.media.recorder.Recorder` (it follows the program's
camera and sound slots, like a viewer); this module decides when it may run (the host or a
broadcast tool asks; it stops when the session ends or empties), and deletes old files.
Everyone — pages over the WebSocket, players and the room agent over the event stream — is
told by the session's ``recording`` news.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import re
import time
from pathlib import Path
from typing import Any, cast

from stream_server.errors import Conflict, Forbidden
from stream_server.live.client import ServerSideClient
from stream_server.live.session import LiveSession
from stream_server.media.recorder import Recorder

logger = logging.getLogger(__name__)

RECORDING_SUFFIXES = (".mkv", ".mkv.part")
#: ``<session id>-<UTC time>[-n].mkv`` (media/recorder.py); anything else is not ours.
RECORDING_NAME = re.compile(r"^(?P<session>[A-Za-z0-9_-]+)-(?P<stamp>\d{8}T\d{6}Z)(?:-\d+)?\.mkv$")


@dataclasses.dataclass(frozen=True)
class RecordingFile:
    """One file in ``recordings_dir`` as staff see it."""

    name: str
    session_id: str
    started_at: dt.datetime
    size: int
    modified_at: dt.datetime
    #: Still being written (``.part``): not offered for download or deletion.
    in_progress: bool


def list_recordings(directory: Path) -> list[RecordingFile]:
    """The recordings in ``directory``, newest first (blocking: run it in a thread)."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        in_progress = path.name.endswith(".part")
        match = RECORDING_NAME.match(path.name.removesuffix(".part"))
        if match is None or not path.is_file():
            continue
        stat = path.stat()
        found.append(
            RecordingFile(
                name=path.name,
                session_id=match["session"],
                started_at=dt.datetime.strptime(match["stamp"], "%Y%m%dT%H%M%SZ").replace(
                    tzinfo=dt.UTC
                ),
                size=stat.st_size,
                modified_at=dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC),
                in_progress=in_progress,
            )
        )
    return sorted(found, key=lambda f: (f.started_at, f.name), reverse=True)


def finished_recording(directory: Path, name: str) -> Path | None:
    """The finished recording called ``name``, or None: only our own file names, never a
    path (``..``, slashes) and never a file still being written."""
    if RECORDING_NAME.match(name) is None:
        return None
    path = directory / name
    return path if path.is_file() else None


def delete_recording(directory: Path, name: str) -> bool:
    """Delete a finished recording; False if there is no such file (blocking)."""
    path = finished_recording(directory, name)
    if path is None:
        return False
    path.unlink(missing_ok=True)
    return True


class RecorderClient(ServerSideClient):
    """The session's recorder as a :class:`~stream_server.live.client.Client`."""

    kind = "recorder"

    def __init__(self, live: LiveSession) -> None:
        settings = live.settings
        recorder = Recorder(
            live.id,
            live.router.camera,
            live.router.audio,
            settings.recordings_dir,
            settings.video_codec,
        )
        super().__init__(live, "rec-", recorder.label)
        self.recorder = recorder
        self.recorder.on_failure = self._failed

    def start(self) -> None:
        self.recorder.start()

    def _failed(self) -> None:
        """The file could not be written: stop, so nobody is told it is recording."""
        if self.live.recorder is self:
            self.live.spawn(self.live.stop_recording("write failed"))

    async def _stop(self, reason: str) -> None:
        """Finish the file (renamed, not left as ``.part``)."""
        logger.info("%s: stopping (%s)", self.label, reason)
        await self.recorder.stop()


def check_allowed(enabled: bool, group: bool) -> None:
    """403 when the deployment forbids recording, 409 for groups (not supported)."""
    if not enabled:
        raise Forbidden("recording is turned off on this server", code="recording_disabled")
    if group:
        raise Conflict(
            "group sessions are not recorded (participants' own cameras are never recorded)",
            code="recording_group_unsupported",
        )


def status(live: LiveSession | None) -> dict[str, Any]:
    media = recorder_of(live)
    started = media.started_at if media is not None else None
    return {"recording": media is not None, "since": started.isoformat() if started else None}


async def set_recording(live: LiveSession, on: bool) -> dict[str, Any]:
    """Start or stop recording ``live``; idempotent. Raises 403/409 with the reason."""
    if on:
        check_allowed(live.settings.recording_enabled, live.group)
        if live.recorder is None:
            recorder = RecorderClient(live)
            recorder.start()
            await live.start_recording(recorder)
    else:
        await live.stop_recording("stopped")
    return status(live)


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


async def retention_loop(directory: Path, retention_days: float, every: float = 86400) -> None:
    """Delete expired recordings now and then once a day."""
    while True:
        try:
            await asyncio.to_thread(purge_old_recordings, directory, retention_days)
        except Exception:
            logger.exception("recording clean-up failed")
        await asyncio.sleep(every)


def recorder_of(live: LiveSession | None) -> Recorder | None:
    """The media recorder of a live session, while it records (for status and tests)."""
    # Only set_recording() puts a recorder on a session, and it is always a RecorderClient.
    client = cast(RecorderClient | None, live.recorder if live is not None else None)
    return client.recorder if client is not None else None


async def stop(live: LiveSession | None, reason: str) -> Path | None:
    """Stop recording; the finished file, or None if nothing was recorded."""
    media = recorder_of(live)
    if live is None or media is None:
        return None
    await live.stop_recording(reason)
    return media.finished
