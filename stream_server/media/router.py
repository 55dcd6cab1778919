"""Which slots a live session has: the broadcast program, and each group member's tracks."""

from __future__ import annotations

from stream_server.media.forwarding import Slot
from stream_server.media.tiers import LowTier

#: What a participant can send, and the media kind each travels as.
TRACK_KINDS = {"audio": "audio", "video": "video", "screen": "video"}


class SessionRouter:
    """The slots of one live session.

    In a broadcast the host (or a WHIP encoder) feeds the *program*: camera, screen, audio;
    every viewer follows those. In a group each member's tracks get slots of their own.
    """

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.program = {
            name: Slot(kind, f"{session_id}/{name}") for name, kind in TRACK_KINDS.items()
        }
        self._member_slots: dict[tuple[int, str], Slot] = {}
        self._low: LowTier | None = None

    @property
    def camera(self) -> Slot:
        return self.program["video"]

    @property
    def audio(self) -> Slot:
        return self.program["audio"]

    def slot_for(self, kind: str) -> Slot:
        """The program slot a WHIP track of ``kind`` feeds (and a WHEP viewer watches)."""
        return self.program["video" if kind == "video" else "audio"]

    def member_slot(self, member_id: int, name: str) -> Slot:
        key = (member_id, name)
        slot = self._member_slots.get(key)
        if slot is None:
            slot = Slot(TRACK_KINDS[name], f"{self.session_id}/{member_id}/{name}")
            self._member_slots[key] = slot
        return slot

    def drop_member(self, member_id: int) -> None:
        for key in [k for k in self._member_slots if k[0] == member_id]:
            slot = self._member_slots.pop(key)
            slot.set_source(None)

    def low_tier(self, codec: str) -> Slot:
        """The program camera's low tier (transcoding starts now if it is not running)."""
        if self._low is None:
            self._low = LowTier(self.camera, codec, label=self.session_id)
        self._low.start()
        return self._low.slot

    @property
    def low(self) -> LowTier | None:
        return self._low

    def close(self) -> None:
        """The session's room emptied: stop what runs on its own (the low tier)."""
        if self._low is not None:
            self._low.close()
            self._low = None
