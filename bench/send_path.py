"""Microseconds per subscriber per frame on the direct RTP path, in one process.

    .venv/bin/python -m bench.send_path [--subscribers 100] [--seconds 5]

Real parts where the cost is: a real :class:`Slot` fan-out task, real ``ForwardedTrack``s,
real :class:`_RtpForwarder` packet building, real SRTP (pylibsrtp, one session per
subscriber) and real UDP sends (to one local socket, drained by the kernel's drop when full).
Only the aiortc sender is a stand-in (an object with an SSRC), since no peer connection is
needed to measure the send path. Frames are VP8-sized (4 packets) at 30 fps and Opus-sized
(1 packet) at 50 fps, like the fan-out benchmark; the process CPU time per subscriber-frame
is printed. Use it to compare changes to the send path without the noise of a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import time
from typing import Any

from pylibsrtp import Policy, Session

from stream_server.media.forwarding import (
    ForwardedTrack,
    MediaSource,
    Slot,
    _RtpForwarder,
)
from stream_server.media.seams import srtp_protector

VP8_FRAME = bytes([0x11, 0x02, 0x00]) + os.urandom(4200)  # a delta frame, ~4 packets
VP8_KEY = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A]) + os.urandom(4200)
OPUS_PACKET = os.urandom(120)


class _Sender:
    """What _RtpForwarder needs of an RTCRtpSender here: an SSRC and settable attributes."""

    def __init__(self, ssrc: int) -> None:
        self._ssrc = ssrc


def _subscriber(slot: Slot, sink: tuple[str, int], kind: str, index: int) -> ForwardedTrack:
    track = ForwardedTrack(kind)
    forwarder = _RtpForwarder(_Sender(1000 + index), track)  # type: ignore[arg-type]
    policy = Policy(key=os.urandom(30), ssrc_type=Policy.SSRC_ANY_OUTBOUND)
    forwarder._protect = srtp_protector(Session(policy))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    forwarder._sock = sock
    forwarder._addr = sink
    forwarder.payload_type = 96 if kind == "video" else 111
    forwarder._extensions = (1, "0" if kind == "video" else "1", 2)
    track._forwarder = forwarder
    track.follow(slot)
    return track


async def run(subscribers: int, seconds: float) -> dict[str, Any]:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    address = sink.getsockname()
    video, audio = MediaSource("video", "VP8"), MediaSource("audio", "OPUS")
    slots = {"video": Slot("video"), "audio": Slot("audio")}
    slots["video"].set_source(video)
    slots["audio"].set_source(audio)
    tracks = [
        _subscriber(slots[kind], address, kind, i)
        for i in range(subscribers)
        for kind in ("video", "audio")
    ]
    video.push(VP8_KEY, 0)
    start_wall, start_cpu = time.monotonic(), time.process_time()
    frames = packets = 0
    tick = 0
    while time.monotonic() - start_wall < seconds:
        # 10 ms ticks: video every 3rd-4th (30 fps), audio every 2nd (50 fps).
        if tick % 10 in (0, 3, 7):
            video.push(VP8_FRAME, tick * 900)
            frames += 1
        if tick % 2 == 0:
            audio.push(OPUS_PACKET, tick * 480)
            packets += 1
        tick += 1
        await asyncio.sleep(0.01)
    cpu = time.process_time() - start_cpu
    sent = sum(t.frames_out for t in tracks)
    for track in tracks:
        if track._forwarder is not None and track._forwarder._sock is not None:
            track._forwarder._sock.close()
        track.stop()
    sink.close()
    return {"cpu": cpu, "sent": sent, "frames": frames, "packets": packets}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    result = asyncio.run(run(args.subscribers, args.seconds))
    per_call = 1e6 * result["cpu"] / max(1, result["sent"])
    per_viewer = 100 * result["cpu"] / args.seconds / args.subscribers
    print(
        f"{args.subscribers} subscribers, {result['frames']} video frames and "
        f"{result['packets']} Opus packets each: {per_call:.1f} µs of CPU per "
        f"subscriber-frame, {per_viewer:.3f} % of a core per subscriber (send path only)"
    )


if __name__ == "__main__":
    main()
