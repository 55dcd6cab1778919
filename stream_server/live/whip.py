"""WHIP publishers and WHEP players as clients of a live session (RFC 9725).

A WHIP encoder feeds the broadcast's program (camera and sound); a WHEP player receives it:
the camera on its first video m-line, the presenter's screen share on its second if it
offers one, and sound. Both are :class:`~stream_server.live.client.PeerClient`s, so joining,
counting and closing are the session's, not theirs.
"""

from __future__ import annotations

import logging

from stream_server.live.client import PeerClient
from stream_server.live.session import LiveSession
from stream_server.media.peer import Downstream, Upstream
from stream_server.media.sdp import OfferSummary
from stream_server.vocabulary import Tier, Track

logger = logging.getLogger(__name__)


class WhipPublisher(PeerClient):
    """A broadcast encoder (OBS, GStreamer, the room agent): the newest one is the program."""

    kind = "whip"

    def __init__(self, live: LiveSession) -> None:
        super().__init__(live)
        self.upstreams: list[Upstream] = []

    def prepare(self, offer: OfferSummary) -> None:
        """One upstream of each offered kind (a second video m-line is not forwarded)."""
        for kind in dict.fromkeys(offer.kinds()):
            upstream = self.peer.add_upstream(kind, label=f"{self.label}/{kind}")
            upstream.open()
            self.upstreams.append(upstream)

    def go_live(self) -> None:
        """Take over the program (a previous publisher is closed by the caller)."""
        for upstream in self.upstreams:
            self.live.router.slot_for(upstream.kind).set_source(upstream.live_source)

    def publishing(self) -> list[str]:
        return [
            Track.VIDEO if up.kind == "video" else Track.AUDIO
            for up in self.upstreams
            if up.live_source is not None
        ]

    def _release_media(self) -> None:
        for upstream in self.upstreams:
            upstream.close()


class WhepViewer(PeerClient):
    """A WHEP player: the program's camera (by tier), screen share and sound."""

    kind = "whep"

    def __init__(self, live: LiveSession) -> None:
        super().__init__(live)
        self.downstreams: list[Downstream] = []

    def prepare(self, offer: OfferSummary, tier: Tier) -> None:
        """Downstreams in the offer's m-line order: video #1 camera, video #2 screen."""
        router = self.live.router
        videos = 0
        audios = 0
        for section in offer.sections:
            if section.kind == "audio":
                audios += 1
                if audios == 1:
                    self.downstreams.append(self.peer.add_downstream("audio", router.audio))
                else:
                    self.peer.add_inactive("audio")
                continue
            videos += 1
            if tier == Tier.AUDIO or videos > 2:
                self.peer.add_inactive("video")
            elif videos == 1:
                slot = router.low_tier(self.live.video_codec) if tier == Tier.LOW else router.camera
                camera = self.peer.add_downstream("video", slot)
                self.downstreams.append(camera)
                if tier == Tier.AUTO:
                    camera.auto_tier(
                        router.camera, lambda: router.low_tier(self.live.video_codec)
                    ).reset(active=True)
            else:
                screen = router.program[Track.SCREEN]
                self.downstreams.append(self.peer.add_downstream("video", screen))

    def _release_media(self) -> None:
        for downstream in self.downstreams:
            downstream.track.stop()
