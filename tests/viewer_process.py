"""A WHEP viewer in its own process, so tests can stall it (SIGSTOP) or kill it (SIGKILL).

Usage: python -m tests.viewer_process BASE_URL SESSION_ID
Prints "resource <location>" once connected, then "frames <n>" lines.
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp

from stream_server.media.ice import restrict_host_addresses
from tests.peers import Viewer


async def main(base: str, session_id: str) -> None:
    restrict_host_addresses(["127.0.0.1"])
    viewer = Viewer()
    async with aiohttp.ClientSession() as http:
        resp = await viewer.play(http, base, session_id)
        if resp.status != 201:
            print(f"error {resp.status} {resp.body}", flush=True)
            return
        print(f"resource {resp.headers['Location']}", flush=True)
        while True:
            await asyncio.sleep(0.2)
            print(f"frames {viewer.video_frames}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
