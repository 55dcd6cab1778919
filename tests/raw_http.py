"""A raw HTTP/1.1 client on an asyncio socket, for sending request bodies in pieces.

aiohttp's own client writes a small body in one go, so on loopback the server always sees it
in one TCP segment. Real networks split a 3-6 KB SDP offer into several segments; this client
writes the request head, then the body in pieces with pauses between them (the pauses simulate
the network, they do not wait for an event), framed by ``Content-Length`` or as
``Transfer-Encoding: chunked``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from multidict import CIMultiDict

#: The pause between two pieces of a body: long enough that each piece arrives on its own.
PAUSE = 0.12
FRAMINGS = ("content-length", "chunked")


@dataclass
class RawResponse:
    status: int
    headers: CIMultiDict[str]
    body: bytes
    #: Seconds from the first byte of the request head to the end of the response.
    elapsed: float = 0.0

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_code(self) -> str | None:
        try:
            return str(self.json()["error"]["code"])
        except (ValueError, KeyError, TypeError):
            return None


def split(body: bytes, size: int) -> list[bytes]:
    """``body`` in pieces of ``size`` bytes (the last may be shorter; never an empty piece)."""
    return [body[i : i + size] for i in range(0, len(body), size)] or [b""]


def chunk(piece: bytes) -> bytes:
    """One chunk of ``Transfer-Encoding: chunked``."""
    return b"%x\r\n%s\r\n" % (len(piece), piece)


LAST_CHUNK = b"0\r\n\r\n"


@dataclass
class RawConnection:
    """One TCP connection to the server; write the request yourself, then read the answer."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    started: float = field(default=0.0)
    #: Body bytes written so far (without chunk framing).
    sent: int = 0

    @classmethod
    async def open(cls, host: str, port: int) -> RawConnection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, asyncio.get_running_loop().time())

    async def head(
        self, method: str, path: str, headers: Mapping[str, str], *, framing: str | None
    ) -> None:
        """Write the request line and headers; ``framing`` adds Content-Length or chunked."""
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if framing == "chunked":
            lines.append("Transfer-Encoding: chunked")
        elif framing is not None and framing != "content-length":
            raise ValueError(f"unknown framing {framing!r}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await self.writer.drain()

    async def piece(self, data: bytes, *, chunked: bool) -> None:
        """Write one piece of the body (as one chunk when ``chunked``)."""
        if chunked and not data:
            return  # an empty chunk would end the body
        self.writer.write(chunk(data) if chunked else data)
        await self.writer.drain()
        self.sent += len(data)

    async def pieces(
        self, pieces: Sequence[bytes], *, chunked: bool, pause: float = PAUSE, last: bool = True
    ) -> None:
        """Write ``pieces`` ``pause`` seconds apart (then the last chunk, if chunked and ``last``).

        Stops quietly when the server closes the connection: it may refuse a body before the
        end, and the test reads the answer it sent.
        """
        try:
            for data in pieces:
                await asyncio.sleep(pause)
                await self.piece(data, chunked=chunked)
            if chunked and last:
                await self.end_chunks()
        except (ConnectionError, OSError):
            pass

    async def end_chunks(self) -> None:
        self.writer.write(LAST_CHUNK)
        await self.writer.drain()

    async def response(self, timeout: float = 10.0) -> RawResponse:
        """Read one response (Content-Length or chunked body)."""
        async with asyncio.timeout(timeout):
            head = await self.reader.readuntil(b"\r\n\r\n")
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            status = int(status_line.split(" ", 2)[1])
            headers: CIMultiDict[str] = CIMultiDict()
            for line in header_lines:
                if line:
                    name, _, value = line.partition(":")
                    headers.add(name.strip(), value.strip())
            if headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = bytearray()
                while True:
                    size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    body += await self.reader.readexactly(size + 2)
                    del body[-2:]
                    if size == 0:
                        break
            else:
                body = bytearray(
                    await self.reader.readexactly(int(headers.get("Content-Length", "0")))
                )
        elapsed = asyncio.get_running_loop().time() - self.started
        return RawResponse(status, headers, bytes(body), elapsed)

    async def closed_by_server(self, timeout: float) -> bool:
        """Stop sending (half-close) and wait until the server closes its side too."""
        if self.writer.can_write_eof() and not self.writer.is_closing():
            self.writer.write_eof()
        try:
            async with asyncio.timeout(timeout):
                while await self.reader.read(65536):
                    pass
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


async def send_in_pieces(
    address: tuple[str, int],
    method: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    framing: str,
    pieces: Sequence[bytes] | None = None,
    piece_size: int = 1000,
    pause: float = PAUSE,
    timeout: float = 10.0,
) -> RawResponse:
    """Send one request whose body arrives in pieces ``pause`` seconds apart; read the answer.

    ``framing`` is ``"content-length"`` (the whole length announced in the head) or
    ``"chunked"`` (each piece one chunk).
    """
    pieces = list(pieces) if pieces is not None else split(body, piece_size)
    assert b"".join(pieces) == body
    chunked = framing == "chunked"
    all_headers = dict(headers)
    if not chunked:
        all_headers["Content-Length"] = str(len(body))
    connection = await RawConnection.open(*address)
    try:
        await connection.head(method, path, all_headers, framing=framing)
        await connection.pieces(pieces, chunked=chunked, pause=pause)
        return await connection.response(timeout)
    finally:
        await connection.close()
