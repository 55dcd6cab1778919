"""The demo's test card as a client of a live session: the program's stand-in publisher.

While no host publishes, viewers of a demo broadcast see colour bars and hear a beep (encoded
once, forwarded like any broadcast); a real publisher takes over at once and the card returns
when it stops. Nothing is encoded while nobody watches.
"""

from __future__ import annotations

import secrets
from typing import Any

from stream_server.attendance.ledger import Presence
from stream_server.live.client import MediaChange
from stream_server.live.membership import Member
from stream_server.live.session import LiveSession
from stream_server.media.testcard import TestCard


class TestCardClient:
    """Feeds the program slots' fallback for as long as the live session runs."""

    __test__ = False  # not a pytest class
    kind = "testcard"
    member: Member | None = None
    device_id: int | None = None
    presence: Presence | None = None

    def __init__(self, live: LiveSession) -> None:
        self.id = "card-" + secrets.token_urlsafe(8)
        self.live = live
        self.label = f"testcard {live.id}"
        self.closed = False
        self.card = TestCard(live.video_codec, label=self.label)
        router = live.router
        router.camera.fallback, router.audio.fallback = self.card.video, self.card.audio
        router.camera.set_source(router.camera.source)
        router.audio.set_source(router.audio.source)
        self.card.start()

    async def notify(self, message: dict[str, Any]) -> None:
        return None

    async def media_changed(self, change: MediaChange) -> None:
        return None

    def roster_entry(self) -> dict[str, Any] | None:
        return None

    def publishing(self) -> list[str]:
        return []

    async def moderated(self, action: str) -> None:
        return None

    async def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        await self.card.stop()
        await self.live.leave(self, reason)
