"""The real server in its own process, on a free loopback port: for the tests that kill it
(SIGKILL) and start it again to check what survives a crash."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import aiohttp

from tests.peers import wait_until


def free_port() -> int:
    """A port nobody listens on now (the kernel picks it), for a server started later."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def start_server(
    database_url: str,
    port: int,
    env: dict[str, str] | None = None,
    log: Path | None = None,
) -> asyncio.subprocess.Process:
    """``python -m stream_server serve`` on 127.0.0.1:``port``, returned once /healthz answers.

    ICE stays on loopback and VP8 is forced (what the test peers decode); ``env`` adds or
    overrides ``KOHTAAMO_*`` settings for this server; ``log`` keeps its log (stderr) there.
    """
    full_env = {
        **os.environ,
        "KOHTAAMO_DATABASE_URL": database_url,
        "KOHTAAMO_ICE_HOST_ADDRESSES": "127.0.0.1",
        "KOHTAAMO_VIDEO_CODEC": "VP8",
        "KOHTAAMO_PUBLIC_URL": f"http://127.0.0.1:{port}",
        # Every test client is 127.0.0.1 (see tests/conftest.py, settings).
        "KOHTAAMO_MAX_PEERS_PER_ADDRESS": "0",
        "KOHTAAMO_JOINS_PER_ADDRESS_PER_MINUTE": "0",
        "KOHTAAMO_JOIN_CODE_FAILURES_PER_MINUTE": "0",
        **(env or {}),
    }
    log_file = log.open("ab") if log is not None else None
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "stream_server",
            "serve",
            "--port",
            str(port),
            env=full_env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log_file if log_file is not None else asyncio.subprocess.DEVNULL,
        )
    finally:
        if log_file is not None:
            log_file.close()  # the server has its own copy

    async def healthy() -> bool:
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    return resp.status == 200
        except aiohttp.ClientError:
            return False

    # Generous: a loaded machine takes a while to import and migrate.
    await wait_until(healthy, timeout=60, interval=0.1)
    return proc
