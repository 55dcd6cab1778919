"""Every page as its users meet it, measured in Chromium at phone, tablet and room-screen sizes.

One real server with the demo data (``kohtaamo demo``, as ``make run`` loads it) serves the
whole module; one headless Chromium drives it. Each test opens one page in one state (the
join page before and after joining, the presenter's studio, a kiosk in a live session, the
home-care tablet…) in Finnish or English and, at every size, measures:

- no horizontal overflow (the document is no wider than the window);
- the page's primary controls lie inside the first screen (no scrolling to find them);
- every visible interactive target is at least 44x44 CSS px (axe-core's ``target-size``
  checks only 24 px); a checkbox or radio button counts with the label that wraps it;
- a room screen (kiosk) fits its screen exactly: nothing to scroll either way;
- axe-core with the WCAG 2.0/2.1/2.2 A and AA tags reports no violations (its "incomplete"
  results are for a person to review and are not failures).

A test reports every failure of its page at once (page, size, element). A screenshot of each
page at each size is saved under ``test-artifacts/pages/`` for a reviewer.

axe-core comes from the npm package installed by ``make setup`` (``.venv/axe``); it is
evaluated in the page through the DevTools protocol, so the pages keep their strict
Content-Security-Policy while they are checked.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.servers import free_port

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "pages"
AXE = Path(os.environ.get("KOHTAAMO_AXE", ROOT / ".venv/axe/node_modules/axe-core/axe.min.js"))
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

PHONE, TABLET_PORTRAIT, TABLET_LANDSCAPE, ROOM_SCREEN = (
    (390, 844),
    (768, 1024),
    (1024, 768),
    (
        1920,
        1080,
    ),
)
SIZES = (PHONE, TABLET_PORTRAIT, TABLET_LANDSCAPE, ROOM_SCREEN)
#: Room screens are often 720p too.
KIOSK_SIZES = (*SIZES, (1280, 720))
LANGUAGES = ("fi", "en")
MIN_TARGET = 44
TIMEOUT_MS = 30_000


# -- the server with the demo data ---------------------------------------------------------------
@dataclasses.dataclass
class Demo:
    base: str
    data: dict[str, Any]
    venue_kiosk: str  # a kiosk registered to a library without a room: it only lists
    recordings: Path  # the server's recordings_dir

    def session(self, title: str) -> dict[str, Any]:
        return next(s for s in self.data["sessions"] if s["title"] == title)

    def device(self, kind: str) -> dict[str, Any]:
        return next(d for d in self.data["devices"] if d["kind"] == kind)

    def path(self, url: str) -> str:
        """A link printed by ``kohtaamo demo`` on this server."""
        return re.sub(r"^https?://[^/]+", "", url)


LECTURE = "Demo: Luento suorana KANTISTA"
GROUP = "Demo: Keskusteluryhmä"
HOME_CARE_GROUP = "Tuolijumppa kotihoidon asiakkaille"


def _kohtaamo(cwd: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "stream_server", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"kohtaamo {' '.join(args)}: {done.stderr[-2000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """``kohtaamo db upgrade``, ``kohtaamo demo`` and ``kohtaamo serve`` in a scratch folder."""
    folder = tmp_path_factory.mktemp("demo")
    port = free_port()
    env = {
        **os.environ,
        "KOHTAAMO_DATABASE_URL": f"sqlite+aiosqlite:///{folder}/kohtaamo.sqlite3",
        "KOHTAAMO_ICE_HOST_ADDRESSES": "127.0.0.1",
        "KOHTAAMO_VIDEO_CODEC": "VP8",
        "KOHTAAMO_RECORDINGS_DIR": str(folder / "recordings"),
        "KOHTAAMO_PORT": str(port),
        "KOHTAAMO_LOG_LEVEL": "WARNING",
        # The live demo lecture shows the test card, so pages are measured with video in them.
        "KOHTAAMO_DEMO_FEED": "1",
    }
    _kohtaamo(folder, env, "db", "upgrade")
    _kohtaamo(folder, env, "demo")
    added = _kohtaamo(folder, env, "devices", "add", "--venue", "kantti", "--kind", "kiosk")
    venue_kiosk = re.search(r"(kd_[A-Za-z0-9_-]+)", added)
    assert venue_kiosk, added
    data = json.loads((folder / "var" / "demo-tokens.json").read_text())
    log = (folder / "server.log").open("wb")  # kept with the test's temporary files
    server = subprocess.Popen(
        [sys.executable, "-m", "stream_server", "serve"],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert server.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.1)
        yield Demo(base, data, venue_kiosk.group(1), folder / "recordings")
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def axe_source() -> str:
    assert AXE.exists(), f"axe-core is missing at {AXE}: run `make setup` (it installs it)"
    return AXE.read_text()


# -- measuring -----------------------------------------------------------------------------------
DATA = Path(__file__).resolve().parent / "data"


def _script(name: str) -> str:
    """A function for ``page.evaluate`` from tests/data, without its leading comment."""
    lines = (DATA / name).read_text().splitlines()
    return "\n".join(line for line in lines if not line.startswith("//"))


MEASURE = _script("page_measure.js")
AXE_RUN = _script("axe_run.js")
SETTLE = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"


@dataclasses.dataclass
class Check:
    """What a page state must satisfy, and what went wrong (all of it, for one message)."""

    name: str
    lang: str
    primary: tuple[str, ...] = ()
    fits_screen: bool = False  # a room screen: nothing to scroll
    sizes: tuple[tuple[int, int], ...] = SIZES
    failures: list[str] = dataclasses.field(default_factory=list)
    axe_seen: set[str] = dataclasses.field(default_factory=set)

    def fail(self, size: tuple[int, int], text: str) -> None:
        self.failures.append(f"{self.name} [{self.lang}] {size[0]}x{size[1]}: {text}")


def measure(page: Page, check: Check, axe_source: str) -> None:
    """Every size in turn on the same page (resized, not reloaded: a joined call stays
    joined), then axe-core."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for size in check.sizes:
        width, height = size
        page.set_viewport_size({"width": width, "height": height})
        # Two frames: layout and any resize observers (charts) settle.
        page.evaluate(SETTLE)
        found = page.evaluate(MEASURE, [list(check.primary), MIN_TARGET])
        if found["overflow"] > 0:
            wide = "; ".join(found["wide"]) or "(no single element)"
            check.fail(size, f"{found['overflow']} px wider than the window: {wide}")
        for small in found["small"]:
            check.fail(size, f"target under {MIN_TARGET} px: {small}")
        for outside in found["outside"]:
            check.fail(size, f"primary control outside the first screen: {outside}")
        if check.fits_screen and found["height"] > found["H"]:
            check.fail(size, f"page is {found['height']} px tall on a {found['H']} px screen")
        page.screenshot(
            path=str(ARTIFACTS / f"{check.name}-{check.lang}-{width}x{height}.png"),
            full_page=not check.fits_screen,
        )
        if size in (PHONE, ROOM_SCREEN):
            run_axe(page, check, size, axe_source)


def run_axe(page: Page, check: Check, size: tuple[int, int], axe_source: str) -> None:
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source + "\n;0")
    for violation in page.evaluate(AXE_RUN, AXE_TAGS):
        key = f"{violation['id']}:{violation['nodes'][:1]}"
        if key in check.axe_seen:
            continue
        check.axe_seen.add(key)
        nodes = "; ".join(violation["nodes"])
        check.fail(
            size, f"axe {violation['id']} ({violation['count']}×, {violation['help']}): {nodes}"
        )


def report(check: Check) -> None:
    assert not check.failures, f"{len(check.failures)} problem(s):\n" + "\n".join(check.failures)


@pytest.fixture
def context_for(browser: Browser) -> Iterator[Callable[[str], BrowserContext]]:
    """A fresh browser context (own storage) in the test's language."""
    made: list[BrowserContext] = []

    def make(lang: str) -> BrowserContext:
        context = browser.new_context(locale="en-GB" if lang == "en" else "fi-FI")
        context.set_default_timeout(TIMEOUT_MS)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


def with_lang(path: str, lang: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}lang={lang}" if lang == "en" else path


VIDEO_PLAYING = """() => [...document.querySelectorAll("#stage video")].some(
  (v) => v.readyState >= 2 && v.videoWidth > 0)"""


def open_ready(context: BrowserContext, url: str, ready: str) -> Page:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    response = page.goto(url, wait_until="commit")
    try:
        page.wait_for_selector(ready, state="visible")
    except Exception as exc:
        status = response.status if response else "no response"
        text = page.locator("body").inner_text()[:600] if page.locator("body").count() else ""
        raise AssertionError(f"{url}: {ready} never showed (HTTP {status}): {text}") from exc
    page.wait_for_load_state("domcontentloaded")
    page.errors = errors  # type: ignore[attr-defined]
    return page


def no_page_errors(page: Page, check: Check) -> None:
    for error in getattr(page, "errors", []):
        check.failures.append(f"{check.name} [{check.lang}]: uncaught error in the page: {error}")


def staff_login(context: BrowserContext, demo: Demo, lang: str) -> None:
    page = context.new_page()
    page.goto(f"{demo.base}{with_lang('/staff/login', lang)}")
    page.fill("#login-name", demo.data["staff"]["name"])
    page.fill("#login-password", demo.data["staff"]["password"])
    page.locator("form.login-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/staff(\?|$)"))
    page.close()


# -- participant pages ---------------------------------------------------------------------------
@pytest.mark.parametrize("lang", LANGUAGES)
def test_front_page(demo: Demo, context_for: Any, axe_source: str, lang: str) -> None:
    check = Check("front", lang, primary=("#join-code", "#code-submit"))
    page = open_ready(context_for(lang), f"{demo.base}{with_lang('/', lang)}", "#join-code")
    measure(page, check, axe_source)
    # Sessions are grouped by day and badged by category, not by mode.
    assert page.locator(".programme-day h2").count() >= 2, "the list is not grouped by day"
    badges = page.locator(".programme-entry .badge-category").all_inner_texts()
    assert badges and ("Luento" in badges or "Lecture" in badges), badges
    no_page_errors(page, check)
    report(check)


#: The programme and the statements are read on phones over mobile data: HTML under this.
PUBLIC_PAGE_BUDGET = 120_000


def within_budget(context: BrowserContext, url: str, check: Check) -> None:
    size = len(context.request.get(url).body())
    if size > PUBLIC_PAGE_BUDGET:
        check.failures.append(f"{check.name} [{check.lang}]: {size} bytes of HTML")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_filtered_programme(demo: Demo, context_for: Any, axe_source: str, lang: str) -> None:
    context = context_for(lang)
    url = f"{demo.base}{with_lang('/?area=urban&online=1', lang)}"
    check = Check("programme-filtered", lang, primary=("#filter-area",))
    page = open_ready(context, url, "#filter-area")
    measure(page, check, axe_source)
    within_budget(context, url, check)
    no_page_errors(page, check)
    report(check)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_programme_board(demo: Demo, context_for: Any, axe_source: str, lang: str) -> None:
    """A library's notice-board screen: large type, kept current by pushed events."""
    context = context_for(lang)
    url = f"{demo.base}{with_lang('/?venue=kantti&view=board', lang)}"
    check = Check("programme-board", lang)
    page = open_ready(context, url, "#board-entries")
    page.wait_for_function("() => window.kohtaamoBoard?.swaps >= 1")  # its script ran
    measure(page, check, axe_source)
    within_budget(context, url, check)
    no_page_errors(page, check)
    report(check)


@pytest.mark.parametrize("path", ["/saavutettavuus", "/tietosuoja"])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_statements(demo: Demo, context_for: Any, axe_source: str, lang: str, path: str) -> None:
    context = context_for(lang)
    url = f"{demo.base}{with_lang(path, lang)}"
    check = Check(path.strip("/"), lang)
    page = open_ready(context, url, "main h1")
    measure(page, check, axe_source)
    within_budget(context, url, check)
    no_page_errors(page, check)
    report(check)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_join_page_before_and_after_joining(
    demo: Demo, context_for: Any, axe_source: str, lang: str
) -> None:
    url = f"{demo.base}{with_lang(demo.path(demo.session(LECTURE)['join_url']), lang)}"
    page = open_ready(context_for(lang), url, "#join-button")
    lobby = Check("join-lobby", lang, primary=("#join-button",))
    measure(page, lobby, axe_source)
    page.click("#join-button")
    page.wait_for_function("() => Boolean(window.kohtaamoCall?.joinedInfo)")
    page.wait_for_function(VIDEO_PLAYING)  # the demo's test card
    joined = Check("join-call", lang, primary=("#leave-button",))
    measure(page, joined, axe_source)
    page.click("#leave-button")
    page.wait_for_selector("#left-heading", state="visible")
    left = Check("join-left", lang)
    measure(page, left, axe_source)
    for check in (lobby, joined, left):
        no_page_errors(page, check)
    report(Check("join", lang, failures=lobby.failures + joined.failures + left.failures))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_group_page_when_joined(demo: Demo, context_for: Any, axe_source: str, lang: str) -> None:
    url = f"{demo.base}{with_lang(demo.path(demo.session(GROUP)['join_url']), lang)}"
    page = open_ready(context_for(lang), url, "#join-button")
    page.click("#join-button")
    page.wait_for_selector("#mic-button", state="visible")
    check = Check("group-call", lang, primary=("#mic-button", "#camera-button", "#leave-button"))
    measure(page, check, axe_source)
    # A group waits for people, not for a broadcast.
    waiting = page.locator("#waiting").inner_text()
    assert "lähetys" not in waiting and "stream" not in waiting, waiting
    no_page_errors(page, check)
    report(check)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_wrong_code_page_offers_the_code_field_again(
    demo: Demo, context_for: Any, axe_source: str, lang: str
) -> None:
    page = open_ready(context_for(lang), f"{demo.base}{with_lang('/j/ZZZZ2222', lang)}", "h1")
    check = Check("wrong-code", lang, primary=("#join-code", "#code-submit"))
    measure(page, check, axe_source)
    no_page_errors(page, check)
    report(check)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_not_started_yet_page(demo: Demo, context_for: Any, axe_source: str, lang: str) -> None:
    later = next(s for s in demo.data["sessions"] if s["title"] == "Muistikahvila")
    url = f"{demo.base}{with_lang(demo.path(later['join_url']), lang)}"
    page = open_ready(context_for(lang), url, "h1")
    check = Check("not-started", lang)
    measure(page, check, axe_source)
    no_page_errors(page, check)
    report(check)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_presenter_controls_are_in_the_first_screen(
    demo: Demo, context_for: Any, axe_source: str, lang: str
) -> None:
    lecture = demo.session(LECTURE)
    page = open_ready(
        context_for(lang), f"{demo.base}{with_lang(demo.path(lecture['host_url']), lang)}", "h1"
    )
    lobby = Check("host-lobby", lang, primary=("#join-button",))
    measure(page, lobby, axe_source)
    page.click("#join-button")
    page.wait_for_function("() => Boolean(window.kohtaamoCall?.joinedInfo)")
    studio = Check(
        "host-studio",
        lang,
        primary=("#media-button", "#screen-button", "#record-button", "#end-button"),
    )
    measure(page, studio, axe_source)
    # The join code is on the page, for the presenter to read out.
    assert lecture["join_code"] in page.locator("#join-code-info").inner_text()
    for check in (lobby, studio):
        no_page_errors(page, check)
    report(Check("host", lang, failures=lobby.failures + studio.failures))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_group_leader_page_speaks_of_a_group(
    demo: Demo, context_for: Any, axe_source: str, lang: str
) -> None:
    group = demo.session(GROUP)
    page = open_ready(
        context_for(lang), f"{demo.base}{with_lang(demo.path(group['host_url']), lang)}", "h1"
    )
    button = page.locator("#join-button").inner_text()
    assert button in ("Avaa ryhmä", "Open the group"), button
    page.click("#join-button")
    page.wait_for_function("() => Boolean(window.kohtaamoCall?.joinedInfo)")
    check = Check("host-group", lang, primary=("#media-button", "#screen-button", "#end-button"))
    measure(page, check, axe_source)
    assert group["join_code"] in page.locator("#join-code-info").inner_text()
    no_page_errors(page, check)
    report(check)


# -- devices -------------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", LANGUAGES)
def test_home_care_tablet_shows_its_group_first(
    demo: Demo, context_for: Any, axe_source: str, lang: str
) -> None:
    tablet = demo.device("tablet")
    url = f"{demo.base}{with_lang('/tablet', lang)}#device={tablet['token']}"
    page = open_ready(context_for(lang), url, "#own-sessions .card")
    own = page.locator("#own-sessions .card-title").all_inner_texts()
    assert GROUP in own, own  # the demo's live private group, on the tablet it is meant for
    # and its home-care group: today's if it is still open, else the next one is named.
    assert HOME_CARE_GROUP in own or HOME_CARE_GROUP in page.locator("#own-next").inner_text()
    home = Check("tablet-home", lang, primary=("#own-sessions .card-join",))
    measure(page, home, axe_source)
    # Nothing on the home screen leads away from it.
    assert page.locator("header a").count() == 0
    page.locator(f"#own-sessions .card:has-text('{GROUP}') .card-join").click()
    page.wait_for_selector("#mic-button", state="visible")
    call = Check("tablet-call", lang, primary=("#mic-button", "#camera-button", "#leave-button"))
    measure(page, call, axe_source)
    for check in (home, call):
        no_page_errors(page, check)
    report(Check("tablet", lang, failures=home.failures + call.failures))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_kiosk_in_a_live_session_fits_its_screen(
    demo: Demo, context_for: Any, axe_source: str, lang: str
) -> None:
    kiosk = demo.device("kiosk")
    url = f"{demo.base}{with_lang('/kiosk', lang)}#device={kiosk['token']}"
    page = open_ready(context_for(lang), url, "#headcount")
    page.wait_for_function(VIDEO_PLAYING)  # the demo's test card: the stage holds a picture
    check = Check(
        "kiosk-call",
        lang,
        primary=("#headcount-minus", "#headcount-value", "#headcount-plus", "#headcount-save"),
        fits_screen=True,
        sizes=KIOSK_SIZES,
    )
    measure(page, check, axe_source)
    no_page_errors(page, check)
    report(check)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_kiosk_programme_fits_its_screen(
    demo: Demo, context_for: Any, axe_source: str, lang: str
) -> None:
    url = f"{demo.base}{with_lang('/kiosk', lang)}#device={demo.venue_kiosk}"
    page = open_ready(context_for(lang), url, "#programme")
    page.wait_for_selector("#sessions li")
    check = Check("kiosk-programme", lang, fits_screen=True, sizes=KIOSK_SIZES)
    measure(page, check, axe_source)
    no_page_errors(page, check)
    report(check)


# -- staff ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", LANGUAGES)
def test_staff_login_page(demo: Demo, context_for: Any, axe_source: str, lang: str) -> None:
    page = open_ready(
        context_for(lang), f"{demo.base}{with_lang('/staff/login', lang)}", "#login-name"
    )
    check = Check("staff-login", lang, primary=("#login-name", "#login-password", "#login-submit"))
    measure(page, check, axe_source)
    assert "kohtaamo staff" not in page.locator("main").inner_text()  # no shell commands
    no_page_errors(page, check)
    report(check)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_staff_dashboard(demo: Demo, context_for: Any, axe_source: str, lang: str) -> None:
    context = context_for(lang)
    staff_login(context, demo, lang)
    page = open_ready(context, f"{demo.base}{with_lang('/staff', lang)}", ".dash-session")
    check = Check("staff-dashboard", lang)
    measure(page, check, axe_source)
    # Each session says how to reach it: its join code and its page.
    lecture = demo.session(LECTURE)
    card = page.locator(f"#session-{lecture['id']}")
    assert lecture["join_code"] in card.inner_text().replace(" ", "")
    assert card.locator(f"a[href*='/j/{lecture['join_code']}']").count() == 1
    no_page_errors(page, check)
    report(check)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_staff_reports(demo: Demo, context_for: Any, axe_source: str, lang: str) -> None:
    context = context_for(lang)
    staff_login(context, demo, lang)
    page = open_ready(context, f"{demo.base}{with_lang('/staff/reports', lang)}", "#report-form")
    page.wait_for_function("() => window.kohtaamoReport && window.kohtaamoReportDone === true")
    check = Check("staff-reports", lang)
    measure(page, check, axe_source)
    # The few figures that matter first; the table has few columns and headings that start
    # with a capital; the rest is one click away.
    assert page.locator("#key-figures .key-figure").count() >= 4
    headings = page.locator("#report-table thead th").all_inner_texts()
    assert 4 <= len(headings) <= 7, headings
    assert all(h[:1] == h[:1].upper() for h in headings), headings
    assert page.locator("#report-details").count() == 1
    no_page_errors(page, check)
    report(check)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_staff_devices(demo: Demo, context_for: Any, axe_source: str, lang: str) -> None:
    context = context_for(lang)
    staff_login(context, demo, lang)
    page = open_ready(context, f"{demo.base}{with_lang('/staff/devices', lang)}", "h1")
    check = Check("staff-devices", lang)
    measure(page, check, axe_source)
    assert page.locator(".staff-nav").count() == 1  # navigation and logout
    no_page_errors(page, check)
    report(check)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_staff_recordings(demo: Demo, context_for: Any, axe_source: str, lang: str) -> None:
    """The list (a recording of the demo lecture on disk) and the deletion's confirmation."""
    name = f"{demo.session(LECTURE)['id']}-20261201T160000Z.mkv"
    demo.recordings.mkdir(exist_ok=True)
    (demo.recordings / name).write_bytes(bytes(250_000))
    context = context_for(lang)
    staff_login(context, demo, lang)
    page = open_ready(context, f"{demo.base}{with_lang('/staff/recordings', lang)}", "h1")
    check = Check("staff-recordings", lang)
    measure(page, check, axe_source)
    assert page.locator(f"tr[data-recording='{name}'] a").count() == 2  # download, delete
    no_page_errors(page, check)
    report(check)
    confirm_url = with_lang(f"/staff/recordings/{name}/delete", lang)
    page = open_ready(context, f"{demo.base}{confirm_url}", "h1")
    check = Check("staff-recording-delete", lang, primary=("#delete-confirm",))
    measure(page, check, axe_source)
    no_page_errors(page, check)
    report(check)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_staff_areas(demo: Demo, context_for: Any, axe_source: str, lang: str) -> None:
    context = context_for(lang)
    staff_login(context, demo, lang)
    page = open_ready(context, f"{demo.base}{with_lang('/staff/areas', lang)}", "h1")
    check = Check("staff-areas", lang)
    measure(page, check, axe_source)
    no_page_errors(page, check)
    report(check)


# -- the programme -------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", LANGUAGES)
def test_staff_programme_week(demo: Demo, context_for: Any, axe_source: str, lang: str) -> None:
    context = context_for(lang)
    staff_login(context, demo, lang)
    page = open_ready(context, f"{demo.base}{with_lang('/staff/programme', lang)}", ".prog-item")
    check = Check("staff-programme", lang, primary=("#new-session",))
    measure(page, check, axe_source)
    no_page_errors(page, check)
    report(check)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_staff_programme_forms(demo: Demo, context_for: Any, axe_source: str, lang: str) -> None:
    """The new-session form with its errors shown, and one session's page."""
    context = context_for(lang)
    staff_login(context, demo, lang)
    page = open_ready(
        context, f"{demo.base}{with_lang('/staff/programme/new', lang)}", "#field-title"
    )
    page.locator("summary", has_text=re.compile("Toistuu|Repeats")).click()
    page.fill("#field-minutes", "0")
    page.locator("#save").click()
    page.wait_for_selector("#error-summary")
    check = Check("staff-programme-new", lang, primary=("#field-title",))
    measure(page, check, axe_source)
    no_page_errors(page, check)
    report(check)
    lecture = demo.session(LECTURE)
    page = open_ready(
        context,
        f"{demo.base}{with_lang('/staff/programme/sessions/' + lecture['id'], lang)}",
        "#session-heading",
    )
    check = Check("staff-programme-session", lang, primary=("#session-heading",))
    measure(page, check, axe_source)
    no_page_errors(page, check)
    report(check)


# -- printed cards and posters (issue 17) ---------------------------------------------------------
@pytest.mark.parametrize("lang", LANGUAGES)
def test_join_card_and_poster(demo: Demo, context_for: Any, axe_source: str, lang: str) -> None:
    """The A6 card and the A4 poster as their screen preview: the code and the QR code on the
    first screen, readable at every size."""
    lecture_id = demo.session(LECTURE)["id"]
    context = context_for(lang)
    for kind in ("card", "poster"):
        url = f"{demo.base}{with_lang(f'/sessions/{lecture_id}/{kind}', lang)}"
        page = open_ready(context, url, "#card-qr")
        check = Check(f"join-{kind}", lang, primary=("#card-heading",))
        measure(page, check, axe_source)
        no_page_errors(page, check)
        report(check)
