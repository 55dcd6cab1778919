"""The demo's test card as a client of a live session: the program's stand-in publisher.

While no host publishes, viewers of a demo broadcast see colour bars and hear a beep (encoded
once, forwarded like any broadcast); a real publisher takes over at once and the card returns
when it stops. Nothing is encoded while nobody watches.
"""

from __future__ import annotations

from stream_server.live.client import ServerSideClient
from stream_server.live.session import LiveSession
from stream_server.media.testcard import TestCard


class TestCardClient(ServerSideClient):
    """Feeds the program slots' fallback for as long as the live session runs."""

    __test__ = False  # not a pytest class
    kind = "testcard"

    def __init__(self, live: LiveSession) -> None:
        super().__init__(live, "card-", f"testcard {live.id}")
        self.card = TestCard(live.video_codec, label=self.label)
        router = live.router
        router.camera.fallback, router.audio.fallback = self.card.video, self.card.audio
        router.camera.set_source(router.camera.source)
        router.audio.set_source(router.audio.source)
        self.card.start()

    async def _stop(self, reason: str) -> None:
        await self.card.stop()
