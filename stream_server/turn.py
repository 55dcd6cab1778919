"""TURN credentials that expire: one pair per client, minted from a secret that stays here.

The TURN REST scheme, which coturn implements as ``use-auth-secret``: the username is
``EXPIRY:RANDOM`` (EXPIRY in unix seconds) and the password is
``base64(HMAC-SHA1(secret, username))``. The TURN server holds the same secret
(``static-auth-secret``), recomputes the password, and refuses a username whose EXPIRY has
passed. So the server never tells the TURN server who is coming, a leaked pair stops working
by itself, and the secret itself is never sent to anyone.

Shared by the live layer (the WebSocket's ``joined``) and the web layer (WHIP/WHEP ``Link``
headers, the device API): no aiohttp, no aiortc.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence

from stream_server.config import IceServer, Settings


def turn_credentials(secret: str, ttl: int, now: float, tag: str | None = None) -> tuple[str, str]:
    """``(username, password)`` valid for ``ttl`` seconds from ``now``.

    ``tag`` is the part after the colon (random unless given); it only makes usernames
    distinct in the TURN server's log, it is not checked.
    """
    expiry = int(now) + ttl
    username = f"{expiry}:{tag or secrets.token_urlsafe(9)}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


class ClientIceServers:
    """What a client is told to use: the configured ``ice_servers`` as they are, then each
    TURN URL with credentials minted for this client alone."""

    def __init__(
        self,
        configured: Sequence[IceServer],
        turn_urls: Sequence[str] = (),
        secret: str | None = None,
        ttl: int = 86400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if turn_urls and not secret:
            raise ValueError("TURN URLs need the TURN server's secret")
        self._configured = tuple(configured)
        self._turn_urls = tuple(turn_urls)
        self._secret = secret
        self._ttl = ttl
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientIceServers:
        return cls(
            settings.ice_servers, settings.turn_urls, settings.turn_secret, settings.turn_ttl
        )

    @property
    def configured(self) -> tuple[IceServer, ...]:
        """The configured ``ice_servers`` alone (no minted TURN credentials)."""
        return self._configured

    @property
    def has_turn(self) -> bool:
        return bool(self._turn_urls)

    def for_client(self) -> list[IceServer]:
        """A fresh list for one client (one credential pair shared by its TURN URLs)."""
        servers = list(self._configured)
        if self._turn_urls and self._secret:
            username, password = turn_credentials(self._secret, self._ttl, self._clock())
            servers += [IceServer(url, username, password) for url in self._turn_urls]
        return servers

    def as_dicts(self) -> list[dict[str, str]]:
        """:meth:`for_client` as ``RTCPeerConnection`` takes it (``joined``, device API)."""
        return [server.as_dict() for server in self.for_client()]
