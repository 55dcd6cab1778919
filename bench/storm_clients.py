"""Join-storm clients: WHEP viewers and signaling pages that join on a schedule.

Each client is a real aiortc peer (ICE, DTLS, SRTCP, receiver reports) that counts frames from
RTP headers instead of decoding them (:class:`bench.fanout_clients.CheapViewer`), so one
process holds dozens. A join succeeds when its first complete key frame arrives; it fails on
any refusal (HTTP status, a signaling ``error``) or when no frame comes within 30 s.

Every client names its own address in ``X-Forwarded-For`` (the server trusts 127.0.0.1 as a
proxy), as people behind a reverse proxy would: the per-address caps apply as in production.
``--same-address`` sends every join from one address instead (the probe's flood).

Line protocol (see :mod:`bench.common`): ``storm`` starts the schedule and replies when every
join has succeeded or failed; ``quit`` closes everything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import time
from typing import Any

from aiohttp import ClientSession, ClientTimeout
from aiortc import RTCSessionDescription

from bench.common import (
    CONNECT_TIMEOUT,
    driver_commands,
    loopback_only,
    new_peer,
    reply,
    stdin_reader,
)
from bench.fanout_clients import CheapViewer, check_seams, payload_types
from stream_server.media.peers import close_peer, raise_open_file_limit


class StormViewer(CheapViewer):
    """A WHEP viewer from its own address."""

    def __init__(self, address: str) -> None:
        super().__init__(audio=True)
        self.address = address

    async def join(self, http: ClientSession, base: str, session_id: str) -> None:
        self._posted = time.monotonic()
        await self.pc.setLocalDescription(await self.pc.createOffer())
        headers = {"Content-Type": "application/sdp", "X-Forwarded-For": self.address}
        async with http.post(
            f"{base}/whep/{session_id}",
            data=self.pc.localDescription.sdp.encode(),
            headers=headers,
        ) as resp:
            body = await resp.text()
            if resp.status != 201:
                raise RuntimeError(f"WHEP {resp.status}: {body[:120]}")
        video_pts, audio_pts = payload_types(body)
        self._hook(video_pts, audio_pts)
        await self.pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
        await asyncio.wait_for(self.first_frame.wait(), CONNECT_TIMEOUT)


class StormPage(CheapViewer):
    """A join page on the signaling WebSocket from its own address (answers the server's
    offers; counts what it receives like :class:`StormViewer`)."""

    def __init__(self, address: str) -> None:  # CheapViewer's, but no transceivers of its own
        self.address = address
        # The server offers: this page's transceivers come from its offer.
        self.pc = new_peer()
        self.receivers = {}
        self.frames = self.bytes = self.audio_packets = self.stalls = 0
        self.max_gap = 0.0
        self.join_seconds: float | None = None
        self.first_frame = asyncio.Event()
        self._last_frame: float | None = None
        self._posted = 0.0
        self._keyframe_started = False
        self._decrypting = True
        self.error: str | None = None
        self.ws: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def join(self, http: ClientSession, base: str, session_id: str) -> None:
        self._posted = time.monotonic()
        self.ws = await http.ws_connect(
            base.replace("http", "ws", 1) + "/ws", headers={"X-Forwarded-For": self.address}
        )
        await self.ws.send_json(
            {
                "type": "join",
                "session": session_id,
                "channel": "browser",
                "attendee_key": secrets.token_urlsafe(18),
            }
        )
        self._reader = asyncio.create_task(self._read())
        await asyncio.wait_for(self.first_frame.wait(), CONNECT_TIMEOUT)

    async def _read(self) -> None:
        async for msg in self.ws:
            message = json.loads(msg.data)
            if message["type"] == "error":
                self.error = f"{message['code']}: {message.get('message', '')[:80]}"
                self.first_frame.set()  # wakes join(), which reports the error
                return
            if message["type"] == "offer":
                await self._answer(message["sdp"])
            elif message["type"] == "pong":
                continue

    async def _answer(self, offer: str) -> None:
        first = not self.receivers
        await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        for transceiver in self.pc.getTransceivers():
            transceiver.direction = "recvonly"
            self.receivers.setdefault(transceiver.kind, transceiver.receiver)
        if first:
            video_pts, audio_pts = payload_types(offer)
            self._hook(video_pts, audio_pts)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await self.ws.send_json({"type": "answer", "sdp": self.pc.localDescription.sdp})

    async def keep_alive(self) -> None:
        with contextlib.suppress(Exception):
            while not self.ws.closed:
                await asyncio.sleep(5)
                await self.ws.send_json({"type": "ping"})

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()


async def join_one(
    http: ClientSession,
    args: argparse.Namespace,
    n: int,
    kind: str,
    at: float,
    clients: list[Any],
    keepers: list[asyncio.Task[None]],
) -> dict[str, Any]:
    """Client ``n`` joins at ``at`` (monotonic); its result."""
    await asyncio.sleep(at - time.monotonic())
    prefix = args.address_base.rsplit(".", 1)[0]
    address = args.address_base if args.same_address else f"{prefix}.{n + 1}"
    client: StormViewer | StormPage = StormViewer(address) if kind == "whep" else StormPage(address)
    clients.append(client)
    began = time.monotonic()
    error = None
    try:
        await client.join(http, args.base, args.session)
        error = getattr(client, "error", None)
    except Exception as exc:
        error = str(exc)[:160] or type(exc).__name__
    if isinstance(client, StormPage) and error is None:
        keepers.append(asyncio.create_task(client.keep_alive()))
    joined = time.monotonic() - began if error is None else None
    return {"kind": kind, "ok": error is None, "error": error, "join": joined}


async def storm(args: argparse.Namespace) -> None:
    """Start ``--whep`` viewers and ``--ws`` pages evenly over ``--seconds``, alternating."""
    commands = await stdin_reader()
    clients: list[Any] = []
    keepers: list[asyncio.Task[None]] = []
    pairs = 2 * min(args.whep, args.ws)
    kinds = (["whep", "ws"] * pairs)[:pairs]
    kinds += ["whep"] * (args.whep - kinds.count("whep"))
    kinds += ["ws"] * (args.ws - kinds.count("ws"))
    step = args.seconds / max(1, len(kinds))
    async with ClientSession(timeout=ClientTimeout(total=CONNECT_TIMEOUT)) as http:
        try:
            async for line in driver_commands(commands):
                if line != "storm":
                    continue
                start = time.monotonic()
                results = await asyncio.gather(
                    *(
                        join_one(http, args, n, kind, start + n * step, clients, keepers)
                        for n, kind in enumerate(kinds)
                    )
                )
                reply({"event": "stormed", "results": list(results)})
        finally:
            for task in keepers:
                task.cancel()
            for client in clients:
                if isinstance(client, StormPage):
                    await client.close()
            await asyncio.gather(*(close_peer(c.pc, "storm") for c in clients))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--session", required=True)
    parser.add_argument("--token", default=None)
    parser.add_argument("--no-audio", dest="audio", action="store_false")
    parser.add_argument("--whep", type=int, default=25)
    parser.add_argument("--ws", type=int, default=25)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--address-base", default="10.1.0.0", help="a.b.c.0: clients use .1, .2…")
    parser.add_argument("--same-address", action="store_true", help="every join from one address")
    args = parser.parse_args(argv)
    loopback_only()
    check_seams()
    raise_open_file_limit()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(storm(args))


if __name__ == "__main__":
    main()
