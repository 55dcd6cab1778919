"""The pictures in docs/img/, taken from a demo server with headless Chromium.

``make screenshots`` runs this inside a loopback-only network namespace: it migrates a scratch
SQLite database, loads the demo (``kohtaamo demo``), serves it with the test card on, and
photographs the pages docs/librarian.md shows, in English, at a tablet's size. Run it again
after a change to a page, and commit the PNGs it writes (they are small on purpose: one
screen each, no retina scale).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page, ViewportSize, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
    "--no-first-run",
]
SIZE: ViewportSize = {"width": 1024, "height": 700}
#: Staff pages are read on a desktop: taller, so that the first cards and figures show.
STAFF_SIZE: ViewportSize = {"width": 1024, "height": 960}
LECTURE = "Demo: Luento suorana KANTISTA"
VIDEO_PLAYING = """() => [...document.querySelectorAll("#stage video")].some(
  (v) => v.readyState >= 2 && v.videoWidth > 0)"""


def kohtaamo(folder: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "stream_server", *args], cwd=folder, env=env, check=True)


@contextmanager
def demo_server(folder: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """The demo as ``make run`` makes it, on a free port of 127.0.0.1; its address and tokens."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "KOHTAAMO_DATABASE_URL": f"sqlite+aiosqlite:///{folder}/kohtaamo.sqlite3",
        "KOHTAAMO_ICE_HOST_ADDRESSES": "127.0.0.1",
        "KOHTAAMO_RECORDINGS_DIR": str(folder / "recordings"),
        "KOHTAAMO_PORT": str(port),
        "KOHTAAMO_LOG_LEVEL": "WARNING",
        "KOHTAAMO_DEMO_FEED": "1",
    }
    kohtaamo(folder, env, "db", "upgrade")
    kohtaamo(folder, env, "demo")
    data = json.loads((folder / "var" / "demo-tokens.json").read_text(encoding="utf-8"))
    server = subprocess.Popen(
        [sys.executable, "-m", "stream_server", "serve"],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the demo server did not come up") from None
                time.sleep(0.2)
        yield base, data
    finally:
        server.terminate()
        server.wait(timeout=15)


def local(url: str) -> str:
    """A link printed by ``kohtaamo demo``, as a path on this server."""
    return re.sub(r"^https?://[^/]+", "", url)


def en(path: str) -> str:
    base, _, fragment = path.partition("#")
    joined = f"{base}{'&' if '?' in base else '?'}lang=en"
    return f"{joined}#{fragment}" if fragment else joined


def shoot(page: Page, name: str) -> Path:
    path = OUT / f"{name}.png"
    page.wait_for_timeout(1500)  # the "You are in" notice fades; the first events arrive
    page.screenshot(path=str(path))
    return path


def take_all(base: str, data: dict[str, Any], context: BrowserContext) -> list[Path]:
    """Each picture: the page, what to wait for, what to do first."""
    lecture = next(s for s in data["sessions"] if s["title"] == LECTURE)
    kiosk = next(d for d in data["devices"] if d["kind"] == "kiosk")
    tablet = next(d for d in data["devices"] if d["kind"] == "tablet")
    taken: list[Path] = []

    def visit(path: str, ready: str, name: str, then: Callable[[Page], None] | None = None) -> None:
        page = context.new_page()
        if name.startswith("staff-"):
            page.set_viewport_size(STAFF_SIZE)
        page.goto(base + en(path))
        page.wait_for_selector(ready, state="visible")
        if then is not None:
            then(page)
        taken.append(shoot(page, name))
        page.close()

    def join(page: Page) -> None:
        page.click("#join-button")
        page.wait_for_function("() => Boolean(window.kohtaamoCall?.joinedInfo)")
        page.wait_for_function(VIDEO_PLAYING)

    def start_presenting(page: Page) -> None:
        page.click("#join-button")
        page.wait_for_function("() => Boolean(window.kohtaamoCall?.joinedInfo)")

    visit(local(lecture["join_url"]), "#join-button", "join-broadcast", join)
    visit(local(lecture["host_url"]), "#join-button", "host-broadcast", start_presenting)
    visit(f"/kiosk#device={kiosk['token']}", "#headcount", "kiosk-live")
    visit(f"/tablet#device={tablet['token']}", "#own-sessions .card", "tablet-home")

    login = context.new_page()
    login.goto(base + en("/staff/login"))
    login.fill("#login-name", data["staff"]["name"])
    login.fill("#login-password", data["staff"]["password"])
    login.locator("form.login-form button[type=submit]").click()
    login.wait_for_url(re.compile(r"/staff(\?|$)"))
    login.close()

    def report_done(page: Page) -> None:
        page.wait_for_function("() => window.kohtaamoReport && window.kohtaamoReportDone === true")

    visit("/staff", ".dash-session", "staff-dashboard")
    visit("/staff/reports", "#report-form", "staff-reports", report_done)
    visit("/staff/devices", "h1", "staff-devices")
    visit("/staff/programme", "h1", "staff-programme")
    return taken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, demo_server(Path(scratch)) as (base, data):
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport=SIZE, locale="en-GB")
            context.set_default_timeout(45_000)
            try:
                for path in take_all(base, data, context):
                    print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KiB")
            finally:
                browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
