"""Baseline benchmark server: aiortc's documented relay, with an encoder per viewer.

This is the approach of aiortc's own examples: the publisher's track is decoded once, and
``MediaRelay`` hands each viewer ``relay.subscribe(track)``, so every viewer's
``RTCRtpSender`` re-encodes (VP8 and Opus) on its own. The one deviation from the examples:
VP8 is held at the benchmark's bitrate (:func:`bench.common.pin_vp8_bitrate`), like the
publisher's, so both paths deliver the same bitrate to viewers. The endpoints have the
WHIP/WHEP shape of Kohtaamo's, so the same clients drive both; no authentication, no database.
Prints ``{"session_id": ..., "token": null}`` on stdout, then serves until signalled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import sys

from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from bench import common
from stream_server.media.peers import close_peer, raise_open_file_limit

SESSION_ID = "baseline"

PEERS = web.AppKey("peers", set[RTCPeerConnection])
TRACKS = web.AppKey("tracks", dict[str, MediaStreamTrack])
RELAY = web.AppKey("relay", MediaRelay)


def new_peer(app: web.Application) -> RTCPeerConnection:
    """A peer the app closes on shutdown."""
    pc = common.new_peer()
    app[PEERS].add(pc)
    return pc


async def answer(pc: RTCPeerConnection, request: web.Request, kind: str) -> web.Response:
    await pc.setLocalDescription(await pc.createAnswer())
    return web.Response(
        status=201,
        text=pc.localDescription.sdp,
        content_type="application/sdp",
        headers={"Location": f"/{kind}/{SESSION_ID}/{secrets.token_urlsafe(8)}"},
    )


async def whip(request: web.Request) -> web.Response:
    """Ingest: keep the publisher's tracks for the relay."""
    pc = new_peer(request.app)
    tracks = request.app[TRACKS]

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        tracks[track.kind] = track

    await pc.setRemoteDescription(RTCSessionDescription(await request.text(), "offer"))
    return await answer(pc, request, "whip")


async def whep(request: web.Request) -> web.Response:
    """Playback: a relayed copy of each published track, encoded by this viewer's sender."""
    tracks = request.app[TRACKS]
    if not tracks:
        raise web.HTTPConflict(text="nothing is being published yet")
    pc = new_peer(request.app)
    await pc.setRemoteDescription(RTCSessionDescription(await request.text(), "offer"))
    for track in tracks.values():
        pc.addTrack(request.app[RELAY].subscribe(track))
    return await answer(pc, request, "whep")


async def close_peers(app: web.Application) -> None:
    await asyncio.gather(*(close_peer(pc, "baseline") for pc in app[PEERS]))


def create_app() -> web.Application:
    app = web.Application()
    app[PEERS] = set()
    app[TRACKS] = {}
    app[RELAY] = MediaRelay()
    app.router.add_post("/whip/{session_id}", whip)
    app.router.add_post("/whep/{session_id}", whep)
    app.on_shutdown.append(close_peers)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--kbps", type=int, default=common.DEFAULT_KBPS, help="each viewer encoder's VP8 bitrate"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="baseline: %(levelname)s %(name)s %(message)s"
    )
    raise_open_file_limit()
    common.loopback_only()
    common.pin_vp8_bitrate(args.kbps)
    sys.stdout.write(json.dumps({"session_id": SESSION_ID, "token": None}) + "\n")
    sys.stdout.flush()
    web.run_app(create_app(), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
