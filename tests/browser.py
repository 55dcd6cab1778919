"""Headless Chromium for the browser tests: launch flags, fake media files, page probes.

Debian's ``/usr/bin/chromium`` driven by Playwright (never ``playwright install``). The fake
camera plays a solid-colour Y4M file written here, so a test can check the colour that
arrives at the other end.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, WebSocket, async_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--use-fake-ui-for-media-stream",  # grant camera, microphone and screen without asking
    "--use-fake-device-for-media-stream",  # fake camera/microphone/screen devices
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",  # the server's only ICE candidate is 127.0.0.1
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
#: The fake camera's colour: saturated enough that a wrong track cannot pass for it.
CAMERA_RGB = (200, 60, 40)
#: Generous deadlines: CI machines are slow and WebRTC set-up takes a few seconds.
MEDIA_TIMEOUT_MS = 45_000


def _rgb_to_yuv(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """BT.601 limited range, which is what Chromium assumes for the fake capture file."""
    r, g, b = rgb
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return tuple(max(0, min(255, round(c))) for c in (y, u, v))  # type: ignore[return-value]


def write_y4m(
    path: Path, rgb: tuple[int, int, int], width: int = 320, height: int = 240, frames: int = 30
) -> Path:
    """A solid-colour YUV4MPEG2 clip for ``--use-file-for-fake-video-capture`` (it loops)."""
    y, u, v = _rgb_to_yuv(rgb)
    frame = bytes([y]) * (width * height)
    frame += bytes([u]) * (width * height // 4) + bytes([v]) * (width * height // 4)
    with path.open("wb") as fh:
        fh.write(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            fh.write(b"FRAME\n")
            fh.write(frame)
    return path


@pytest.fixture
async def chromium(tmp_path: Path) -> AsyncIterator[Browser]:
    """A headless Chromium whose fake camera shows :data:`CAMERA_RGB`."""
    clip = write_y4m(tmp_path / "camera.y4m", CAMERA_RGB)
    playwright = await async_playwright().start()
    browser = await playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={clip}"],
    )
    try:
        yield browser
    finally:
        await browser.close()
        await playwright.stop()


async def new_watched_page(
    browser: Browser, locale: str = "fi-FI", init_script: str | None = None
) -> Page:
    """A page in its own context (its own storage) whose console output, errors and
    signaling messages are collected for :func:`page_log`.

    Headless Chromium asks for en-US by default; ``locale`` sets its Accept-Language.
    ``init_script`` runs before the page's own scripts.
    """
    context = await browser.new_context(locale=locale)
    if init_script is not None:
        await context.add_init_script(init_script)
    page = await context.new_page()
    page.on("console", lambda msg: _remember(page, msg.type, msg.text))
    page.on("pageerror", lambda exc: _remember(page, "pageerror", str(exc)))
    page.on("websocket", lambda ws: _watch_socket(page, ws))
    return page


async def open_page(browser: Browser, url: str, locale: str = "fi-FI") -> Page:
    """A join page, ready to be clicked."""
    page = await new_watched_page(browser, locale)
    # "commit": a permission prompt could otherwise keep "load" from ever firing.
    await page.goto(url, wait_until="commit")
    await page.wait_for_selector("#join-button")
    # The button is in the HTML before the page's module scripts have run (they run, with
    # their imports, before DOMContentLoaded): a click earlier than that would do nothing.
    await page.wait_for_load_state("domcontentloaded")
    return page


_LOGS: dict[int, list[str]] = {}


def _remember(page: Page, kind: str, text: str) -> None:
    _LOGS.setdefault(id(page), []).append(f"{kind}: {text}")


def _watch_socket(page: Page, ws: WebSocket) -> None:
    """Signaling messages in the log, shortened (SDP is long), to explain failures."""

    def frame(direction: str, payload: str | bytes) -> None:
        text = payload if isinstance(payload, str) else repr(payload)
        _remember(page, direction, text[:160])

    ws.on("framesent", lambda payload: frame("ws->", payload))
    ws.on("framereceived", lambda payload: frame("ws<-", payload))
    ws.on("close", lambda _: _remember(page, "ws", "closed"))


def page_log(page: Page) -> str:
    """The page's console output, for assertion messages."""
    return "\n".join(_LOGS.get(id(page), [])[-40:])


def assert_no_page_errors(page: Page) -> None:
    """Uncaught exceptions in the page scripts fail the test even when the media worked."""
    errors = [line for line in _LOGS.get(id(page), []) if line.startswith("pageerror")]
    assert not errors, "\n".join(errors)


#: True once ``video`` shows decoded frames (the size is known and time advances).
PLAYING = """(selector) => {
  const video = document.querySelector(selector);
  if (!video || video.readyState < 2 || !video.videoWidth) return false;
  const frames = video.getVideoPlaybackQuality?.().totalVideoFrames ?? 0;
  return frames > 5 && video.currentTime > 0.2;
}"""

#: The mean colour of the middle of ``video``'s current frame.
MEAN_COLOUR = """(selector) => {
  const video = document.querySelector(selector);
  if (!video || !video.videoWidth) return null;
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(video, 0, 0);
  const w = Math.max(1, Math.floor(canvas.width / 2));
  const h = Math.max(1, Math.floor(canvas.height / 2));
  const data = ctx.getImageData(Math.floor(w / 2), Math.floor(h / 2), w, h).data;
  const sum = [0, 0, 0];
  for (let i = 0; i < data.length; i += 4) {
    sum[0] += data[i]; sum[1] += data[i + 1]; sum[2] += data[i + 2];
  }
  const n = data.length / 4;
  return sum.map((s) => s / n);
}"""


async def wait_playing(page: Page, selector: str, timeout_ms: int = MEDIA_TIMEOUT_MS) -> None:
    try:
        await page.wait_for_function(PLAYING, arg=selector, timeout=timeout_ms, polling=100)
    except Exception as exc:
        raise AssertionError(f"{selector} never played; page log:\n{page_log(page)}") from exc


async def wait_colour(
    page: Page,
    selector: str,
    rgb: tuple[int, int, int],
    tolerance: float = 30,
    timeout_ms: int = MEDIA_TIMEOUT_MS,
) -> list[float]:
    """Wait until the frame in ``selector`` has ``rgb``'s colour (codecs blur a little)."""
    probe = f"""(selector) => {{
      const mean = ({MEAN_COLOUR})(selector);
      const want = {json.dumps(list(rgb))};
      return mean && mean.every((c, i) => Math.abs(c - want[i]) <= {tolerance}) ? mean : false;
    }}"""
    try:
        handle = await page.wait_for_function(probe, arg=selector, timeout=timeout_ms, polling=200)
    except Exception as exc:
        seen = await page.evaluate(MEAN_COLOUR, selector)
        raise AssertionError(
            f"{selector} shows {seen}, expected about {rgb}; page log:\n{page_log(page)}"
        ) from exc
    return await handle.json_value()  # type: ignore[no-any-return]


async def poll(
    probe: Callable[[], Awaitable[Any]], until: Callable[[Any], bool], timeout: float
) -> Any:
    """Poll server state with a deadline (it raises no event a test could await)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {timeout} s")
        await asyncio.sleep(0.2)
