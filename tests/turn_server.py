"""A real TURN server for the tests: Debian's coturn on loopback, with time-limited
credentials (``use-auth-secret``), started inside the tests' network namespace.

``.ci/run`` installs coturn (like Chromium). Relaying between loopback addresses needs
``--allow-loopback-peers`` (a test-only flag: coturn warns about it in production).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import socket
import struct
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

TURNSERVER = "/usr/bin/turnserver"
REALM = "kohtaamo.test"


@dataclasses.dataclass
class Coturn:
    """A running coturn: its port (UDP and TCP), its secret and its log."""

    port: int
    secret: str
    log: Path
    process: asyncio.subprocess.Process

    def url(self, transport: str) -> str:
        return f"turn:127.0.0.1:{self.port}?transport={transport}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _free_udp_and_tcp_port() -> int:
    """A port free for both TCP and UDP now (coturn listens on both)."""
    for _ in range(50):
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port for coturn")


def _stun_binding_answered(port: int) -> bool:
    """One STUN Binding request over UDP: does coturn answer yet?"""
    transaction = secrets.token_bytes(12)
    request = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + transaction
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        try:
            sock.sendto(request, ("127.0.0.1", port))
            data = sock.recv(2048)
        except OSError:
            return False
    return len(data) >= 20 and data[8:20] == transaction


def _tcp_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _prepare(workdir: Path) -> None:
    if not os.path.exists(TURNSERVER):
        pytest.fail(f"{TURNSERVER} is missing: apt-get install coturn (.ci/run does)")
    workdir.mkdir(parents=True, exist_ok=True)


async def start_coturn(workdir: Path, secret: str | None = None) -> Coturn:
    """coturn on 127.0.0.1 (TURN over UDP and TCP on one port), returned once it answers."""
    _prepare(workdir)
    secret = secret or secrets.token_urlsafe(24)
    port = _free_udp_and_tcp_port()
    relay_low = 20000 + (port % 200) * 100  # below the kernel's ephemeral ports
    log = workdir / "turnserver.log"
    args = [
        "-n",  # no configuration file
        "--listening-ip=127.0.0.1",
        "--relay-ip=127.0.0.1",
        f"--listening-port={port}",
        "--use-auth-secret",
        f"--static-auth-secret={secret}",
        f"--realm={REALM}",
        "--allow-loopback-peers",
        "--no-cli",
        "--no-tls",
        "--no-dtls",
        f"--min-port={relay_low}",
        f"--max-port={relay_low + 99}",
        f"--pidfile={workdir / 'turnserver.pid'}",
        f"--userdb={workdir / 'turndb'}",
        # A file of its own: coturn's stdout is block-buffered when it is not a terminal.
        f"--log-file={log}",
        "--simple-log",  # no date suffix on the file name
        "--verbose",  # one line per request: who allocated, over which transport
    ]
    process = await asyncio.create_subprocess_exec(
        TURNSERVER,
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while not (_tcp_accepts(port) and _stun_binding_answered(port)):
        if process.returncode is not None or time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise AssertionError(f"coturn did not start:\n{log.read_text(errors='replace')}")
        await asyncio.sleep(0.05)
    return Coturn(port, secret, log, process)


async def stop_coturn(coturn: Coturn) -> None:
    if coturn.process.returncode is None:
        coturn.process.terminate()
        try:
            await asyncio.wait_for(coturn.process.wait(), 5)
        except TimeoutError:
            coturn.process.kill()
            await coturn.process.wait()


@pytest.fixture
async def coturn(tmp_path: Path) -> AsyncIterator[Coturn]:
    """A coturn of its own for one test, stopped (and its port freed) at teardown."""
    server = await start_coturn(tmp_path / "coturn")
    try:
        yield server
    finally:
        await stop_coturn(server)
