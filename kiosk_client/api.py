"""The server's device API, WHIP/WHEP and session events, as seen from a room PC (see
docs/api.md).

Failures are sorted into three kinds because the agent reacts differently to each:
``ServerUnavailable`` (network down, server restarting, 5xx: retry with back-off),
``DeviceRefused`` (token unknown or revoked: log loudly, retry slowly; staff must act) and
``ApiError`` (the server understood and said no, e.g. the session has ended).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urljoin

import aiohttp

logger = logging.getLogger(__name__)

REFUSED_CODES = ("device_token_invalid", "device_revoked")


class ServerUnavailable(Exception):
    """The server could not be reached or failed (5xx); worth retrying."""


class ApiError(Exception):
    """A 4xx answer with the server's error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class DeviceRefused(ApiError):
    """The device token was refused (401 unknown, 403 revoked)."""


class ServerApi:
    """A thin client of the Kohtaamo server for one bearer token (device, publish or join)."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        server: str,
        token: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._http = http
        self.server = server.rstrip("/")
        self._token = token or None
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def url(self, path: str) -> str:
        return urljoin(self.server + "/", path.lstrip("/"))

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        sdp: str | None = None,
        timeout: float | None = None,
    ) -> tuple[int, Any, str]:
        """Returns (status, headers, body text) for 2xx; raises one of the three kinds."""
        extra = {"Content-Type": "application/sdp"} if sdp is not None else None
        try:
            async with self._http.request(
                method,
                self.url(path),
                json=json_body,
                data=sdp.encode() if sdp is not None else None,
                headers=self._headers(extra),
                timeout=self._timeout if timeout is None else aiohttp.ClientTimeout(total=timeout),
            ) as resp:
                body = await resp.text()
                status, headers = resp.status, resp.headers
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ServerUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        _raise_for_status(method, path, status, body)
        return status, headers, body

    @contextlib.asynccontextmanager
    async def stream(self, path: str, idle_timeout: float) -> AsyncIterator[aiohttp.ClientResponse]:
        """GET a long-lived event stream: no total timeout, but ``idle_timeout`` seconds
        without a byte count as a dead connection. Failures, also while reading, are
        raised as the same three kinds."""
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self._timeout.total, sock_read=idle_timeout
        )
        headers = self._headers({"Accept": "text/event-stream", "Cache-Control": "no-store"})
        try:
            async with self._http.get(self.url(path), headers=headers, timeout=timeout) as resp:
                if resp.status >= 400:
                    _raise_for_status("GET", path, resp.status, await resp.text())
                yield resp
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ServerUnavailable(f"GET {path}: {type(exc).__name__}: {exc}") from exc

    async def _get_json(self, path: str) -> Any:
        _, _, body = await self._request("GET", path)
        try:
            return _json(body)
        except ValueError:
            raise ServerUnavailable(f"GET {path}: the answer is not JSON") from None

    # -- device API -------------------------------------------------------------------------------
    async def device(self) -> dict[str, Any]:
        data = await self._get_json("/api/device")
        return dict(data["device"])

    async def schedule(self, days: int = 1) -> dict[str, Any]:
        data = await self._get_json(f"/api/device/schedule?days={days}")
        if not isinstance(data, dict) or not isinstance(data.get("sessions"), list):
            raise ServerUnavailable("schedule: unexpected answer")
        return data

    async def heartbeat(
        self,
        state: str,
        session_id: str | None,
        detail: str | None,
        timeout: float | None = None,
    ) -> None:
        await self._request(
            "POST",
            "/api/device/heartbeat",
            json_body={"state": state, "session_id": session_id, "detail": detail},
            timeout=timeout,
        )

    async def headcount(self, session_id: str, venue: str, count: int) -> dict[str, Any]:
        _, _, body = await self._request(
            "POST",
            f"/api/sessions/{session_id}/headcount",
            json_body={"venue": venue, "count": count},
        )
        return dict(_json(body))

    # -- WHIP / WHEP ------------------------------------------------------------------------------
    async def offer(self, kind: str, session_id: str, sdp: str) -> tuple[str, str]:
        """POST an offer to ``/whip`` or ``/whep``; returns (resource URL, answer SDP)."""
        _, headers, body = await self._request("POST", f"/{kind}/{session_id}", sdp=sdp)
        location = headers.get("Location")
        if not location:
            raise ServerUnavailable(f"{kind}: the answer has no Location")
        return self.url(location), body

    async def delete(self, resource_url: str) -> None:
        """End a WHIP/WHEP resource; quietly, since the server may already have forgotten it."""
        try:
            async with self._http.delete(
                resource_url,
                headers=self._headers(),
                timeout=aiohttp.ClientTimeout(total=3),
            ) as resp:
                if resp.status >= 400 and resp.status != 404:
                    logger.info("DELETE %s answered %s", resource_url, resp.status)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            logger.debug("DELETE %s failed: %r", resource_url, exc)


def _json(body: str) -> Any:
    return json.loads(body)


def _raise_for_status(method: str, path: str, status: int, body: str) -> None:
    """Sort a failed answer into the three kinds (2xx and 3xx pass)."""
    if status >= 500:
        raise ServerUnavailable(f"{method} {path}: HTTP {status}")
    if status >= 400:
        code, message = "http_error", body[:200]
        try:
            err = _json(body)["error"]
            code, message = str(err["code"]), str(err["message"])
        except (ValueError, KeyError, TypeError):
            pass
        if code in REFUSED_CODES or (status == 401 and path.startswith("/api/device")):
            raise DeviceRefused(status, code, message)
        raise ApiError(status, code, message)
