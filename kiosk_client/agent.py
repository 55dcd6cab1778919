"""The unattended agent of a room PC: follow the room's schedule, join at the right time,
keep the connection up, report what it does.

The loop: fetch ``/api/device/schedule``; if a session of this room is due (``lead_seconds``
before its start until its end) attend it, else sleep on the clock until the next one is due
or the schedule should be fetched again. Attending means publishing over WHIP in the host
room, or playing over WHEP in a receiving room, and reconnecting (at once the first time,
then with back-off and jitter) whenever the connection is lost, until the session ends.
Heartbeats run beside it and also tell the agent when a lost server is reachable again, so a
restarted server is rejoined without waiting for the back-off to expire. While it attends, it
follows the session's events (``kiosk_client.events``): whether it is being recorded (logged,
and shown on the room's picture) and whether it has ended early (then it leaves, as at the end
time).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import RTCConfiguration

from kiosk_client.api import ApiError, DeviceRefused, ServerApi, ServerUnavailable
from kiosk_client.backoff import Backoff
from kiosk_client.clock import Clock, SystemClock
from kiosk_client.config import KioskConfig
from kiosk_client.events import SessionEvents
from kiosk_client.headcount import Headcounts, read_stdin, watch_file
from kiosk_client.ice import (
    RelayUnavailable,
    choose_servers,
    diagnose_turn,
    first_turn_server,
    rtc_configuration,
)
from kiosk_client.media import Connection, MediaInput, input_from_config, play, publish
from kiosk_client.sinks import (
    NullSink,
    Sink,
    WindowSink,
    display_available,
    file_sink,
    find_player,
)

logger = logging.getLogger(__name__)

# Placements the agent acts on; "venue" (a room-less device) and tablet placements are not
# for a room PC.
HOST_ROOM = "host-room"
RECEIVING_ROOM = "receiving-room"
SKEW_WARNING_SECONDS = 60.0
# A connection that stayed up this long counts as a success: the next loss reconnects at once.
STABLE_SECONDS = 30.0
# How often heartbeats probe a server that did not answer.
DOWN_PROBE_SECONDS = 2.0


class State(enum.StrEnum):
    IDLE = "idle"
    WAITING = "waiting"
    JOINING = "joining"
    PLAYING = "playing"
    PUBLISHING = "publishing"
    ERROR = "error"


class NotConnected(Exception):
    """The offer was answered but media never started flowing."""


def parse_time(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def default_sink(config: KioskConfig, session_id: str, now: dt.datetime) -> Sink:
    """A window when a display and a player exist, else a file or nothing (``sink``)."""
    kind = config.sink
    command = list(config.player_command) or find_player()
    if kind == "auto":
        kind = "window" if display_available() and command else "null"
    if kind == "window":
        if not command:
            logger.warning("sink: no player found (install mpv or ffplay); not showing")
            return NullSink()
        return WindowSink(command, config.language)
    if kind == "file":
        path = config.sink_file.format(session=session_id, time=now.strftime("%Y%m%dT%H%M%S"))
        logger.info("sink: writing %s", path)
        return file_sink(path)
    return NullSink()


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel the tasks and let each finish (their errors no longer matter to anyone)."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


class Agent:
    """One room PC's agent. ``run()`` until ``stop()``."""

    def __init__(
        self,
        config: KioskConfig,
        clock: Clock | None = None,
        headcounts: Headcounts | None = None,
        sink_factory: Callable[[str], Sink] | None = None,
        input_factory: Callable[[], MediaInput] | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.headcounts = headcounts or Headcounts()
        self._sink_factory = sink_factory or (
            lambda sid: default_sink(config, sid, self.clock.now())
        )
        self._input_factory = input_factory or (lambda: input_from_config(config))
        #: STUN/TURN servers from the device API (TURN credentials minted for this device,
        #: renewed with every schedule), used after this PC's own ``ice_servers``.
        self.server_ice_servers: list[Mapping[str, Any]] = []
        self.state = State.IDLE
        self.session_id: str | None = None
        self.detail: str | None = None
        self.device: dict[str, Any] | None = None
        self.connection: Connection | None = None
        self.sink: Sink | None = None
        self.recording = False  # the attended session is being recorded (from its events)
        self.events: SessionEvents | None = None
        self.connections_made = 0
        self.headcounts_posted: list[tuple[str, int]] = []
        self._changed = asyncio.Condition()
        self._state_event = asyncio.Event()
        self._stop = asyncio.Event()
        self._server_back = asyncio.Event()
        self._server_down = False
        self._refused_backoff = Backoff(
            config.backoff_base_seconds, config.refused_backoff_max_seconds
        )
        self._api: ServerApi | None = None
        # Counts given before this version were for an earlier session (or the day before).
        self._counted_version = self.headcounts.version
        self._finished: set[str] = set()
        self._refused_now = False

    # -- state ------------------------------------------------------------------------------------
    async def _set_state(
        self, state: State, session_id: str | None = None, detail: str | None = None
    ) -> None:
        if (state, session_id, detail) == (self.state, self.session_id, self.detail):
            return
        if (state, session_id) != (self.state, self.session_id):
            logger.info("state: %s%s", state, f" ({session_id})" if session_id else "")
        self.state, self.session_id, self.detail = state, session_id, detail
        self._state_event.set()  # the heartbeat reports changes at once
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[Agent], bool], timeout: float = 30.0) -> None:
        """Wait until ``predicate(agent)`` holds, woken by each state change (for tests)."""

        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self))

        await asyncio.wait_for(wait(), timeout)

    def stop(self) -> None:
        self._stop.set()

    @property
    def api(self) -> ServerApi:
        assert self._api is not None, "run() first"
        return self._api

    # -- waiting ----------------------------------------------------------------------------------
    async def _first(self, **waits: Awaitable[Any]) -> str:
        """Run the awaitables; return the name of the first to finish, cancel the rest."""
        tasks = {asyncio.ensure_future(w): name for name, w in waits.items()}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(tasks)
        # Several may finish together; stop wins, then the order given.
        names = [tasks[t] for t in done]
        return "stop" if "stop" in names else next(n for n in waits if n in names)

    async def _sleep_until(
        self, when: dt.datetime, server_back: bool = False, ended: asyncio.Event | None = None
    ) -> str:
        waits: dict[str, Awaitable[Any]] = {
            "stop": self._stop.wait(),
            "time": self.clock.sleep_until(when),
        }
        if server_back:
            waits["server-back"] = self._server_back.wait()
        if ended is not None:
            waits["ended"] = ended.wait()
        return await self._first(**waits)

    async def _sleep_for(self, seconds: float, server_back: bool = False) -> str:
        return await self._sleep_until(
            self.clock.now() + dt.timedelta(seconds=seconds), server_back
        )

    def _mark_down(self, why: str) -> None:
        if not self._server_down:
            logger.warning("server unreachable: %s", why)
        self._server_down = True
        self._server_back.clear()

    def _mark_up(self) -> None:
        if self._server_down:
            logger.info("server reachable again")
            self._server_down = False
            self._server_back.set()

    # -- main loop --------------------------------------------------------------------------------
    async def run(self) -> None:
        """Follow the schedule until ``stop()``; never raises for server or network trouble."""
        timeout = aiohttp.ClientTimeout(total=self.config.http_timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            self._api = ServerApi(
                http, self.config.server, self.config.token, self.config.http_timeout_seconds
            )
            helpers = [asyncio.ensure_future(self._heartbeats())]
            if self.config.headcount_file:
                helpers.append(
                    asyncio.ensure_future(
                        watch_file(Path(self.config.headcount_file), self.headcounts)
                    )
                )
            if self.config.headcount_stdin:
                helpers.append(asyncio.ensure_future(read_stdin(self.headcounts)))
            logger.info("agent: following the schedule of %s", self.config.server)
            try:
                await self._follow_schedule()
            finally:
                await cancel_and_wait(helpers)
                with contextlib.suppress(ApiError, ServerUnavailable):
                    await self.api.heartbeat(State.IDLE, None, "stopped")
                logger.info("agent: stopped")

    async def _follow_schedule(self) -> None:
        """The agent must outlive its own bugs too: anything unexpected is logged with its
        traceback, reported as state ``error``, and the loop starts again after a back-off."""
        backoff = Backoff(self.config.backoff_base_seconds, self.config.backoff_max_seconds)
        while not self._stop.is_set():
            try:
                await self._step(backoff)
            except Exception as exc:
                delay = backoff.next_delay()
                logger.exception("agent: unexpected failure; starting over in %.1f s", delay)
                await self._set_state(State.ERROR, None, type(exc).__name__)
                await self._sleep_for(delay)

    async def _step(self, backoff: Backoff) -> None:
        """One round: fetch the schedule, then attend a due session or sleep until one is."""
        try:
            schedule = await self.api.schedule(self.config.schedule_days)
        except DeviceRefused as exc:
            await self._refused(exc)
            return
        except ServerUnavailable as exc:
            self._mark_down(str(exc))
            delay = backoff.next_delay()
            logger.info("schedule: retrying in %.1f s", delay)
            await self._sleep_for(delay, server_back=True)
            return
        except ApiError as exc:
            logger.error("schedule: the server refused the request: %s", exc)
            delay = backoff.next_delay()
            logger.info("schedule: retrying in %.1f s", delay)
            await self._sleep_for(delay, server_back=True)
            return
        self._mark_up()
        backoff.reset()
        self._refused_backoff.reset()
        self._refused_now = False
        self._check_skew(schedule)
        self._take_ice_servers(schedule)
        if self.device is None:
            self.device = schedule.get("device")
            logger.info("device: %s", _describe(self.device))
        now = self.clock.now()
        sessions = [s for s in schedule["sessions"] if self._usable(s) and self._wanted(s)]
        due = [s for s in sessions if self._join_at(s) <= now < parse_time(s["ends_at"])]
        if due:
            try:
                await self._attend(due[0])
            except DeviceRefused as exc:
                await self._refused(exc)
            return
        upcoming = [s for s in sessions if self._join_at(s) > now]
        refresh = now + dt.timedelta(seconds=self.config.schedule_refresh_seconds)
        if upcoming:
            nxt = min(upcoming, key=self._join_at)
            join_at = self._join_at(nxt)
            await self._set_state(State.WAITING, nxt["id"], f"joins at {join_at.isoformat()}")
            await self._sleep_until(min(join_at, refresh))
        else:
            await self._set_state(State.IDLE)
            await self._sleep_until(refresh)

    def _take_ice_servers(self, schedule: dict[str, Any]) -> None:
        servers = schedule.get("ice_servers")
        if not isinstance(servers, list):
            return  # an older server: this PC's own ice_servers only
        self.server_ice_servers = [s for s in servers if isinstance(s, dict) and "urls" in s]

    def ice_servers(self) -> list[Mapping[str, Any]]:
        """This PC's own servers, then the server's; the chosen TURN transport first."""
        servers = [*self.config.ice_servers, *self.server_ice_servers]
        return choose_servers(servers, self.config.turn_transport)

    def rtc_configuration(self) -> RTCConfiguration:
        return rtc_configuration(self.ice_servers(), self.config.relay_only)

    async def _no_relay(self, sid: str) -> None:
        """Say plainly why a relay-only PC cannot connect (wrong credentials, no TURN…)."""
        servers = self.ice_servers()
        why = await diagnose_turn(servers, self.config.http_timeout_seconds)
        turn = first_turn_server(servers)
        logger.error(
            "session %s: cannot connect: relay_only is set and no TURN relay was had: %s",
            sid,
            why,
        )
        await self._set_state(State.JOINING, sid, "no TURN relay" if turn else "no TURN server")
        # Expired credentials (a long session, a short turn_ttl) are renewed with a schedule.
        with contextlib.suppress(ApiError, ServerUnavailable):
            self._take_ice_servers(await self.api.schedule(self.config.schedule_days))

    def _usable(self, session: Any) -> bool:
        """A malformed entry is skipped with a log line rather than stopping the agent."""
        try:
            str(session["id"])
            parse_time(session["starts_at"])
            parse_time(session["ends_at"])
            return True
        except (KeyError, TypeError, ValueError, AttributeError):
            logger.error("schedule: skipping a malformed session entry: %.200r", session)
            return False

    def _wanted(self, session: dict[str, Any]) -> bool:
        if session.get("placement") not in (HOST_ROOM, RECEIVING_ROOM):
            return False
        # A session left for good (ended, removed, refused as gone) is not rejoined, or a
        # schedule that still lists it would have the agent retry it in a tight loop.
        return session.get("phase") != "ended" and session["id"] not in self._finished

    def _join_at(self, session: dict[str, Any]) -> dt.datetime:
        return parse_time(session["starts_at"]) - dt.timedelta(seconds=self.config.lead_seconds)

    def _check_skew(self, schedule: dict[str, Any]) -> None:
        with contextlib.suppress(KeyError, TypeError, ValueError):
            skew = (parse_time(schedule["now"]) - self.clock.now()).total_seconds()
            if abs(skew) > SKEW_WARNING_SECONDS:
                logger.warning("clock: this PC is %+.0f s off the server (set up NTP)", -skew)

    async def _refused(self, exc: DeviceRefused) -> None:
        """A refused token needs staff: say so loudly, keep trying slowly, never crash."""
        delay = self._refused_backoff.next_delay()
        logger.error(
            "device token refused (%s: %s); staff must register or re-enable this device. "
            "Retrying in %.0f s",
            exc.code,
            exc.message,
            delay,
        )
        self._refused_now = True  # heartbeats pause too: the retry above is the only probe
        await self._set_state(State.ERROR, None, exc.code)
        await self._sleep_for(delay)

    # -- one session ------------------------------------------------------------------------------
    async def _attend(self, session: dict[str, Any]) -> None:
        sid = session["id"]
        leave_at = parse_time(session["ends_at"])
        placement = session["placement"]
        sending = placement == HOST_ROOM
        logger.info(
            "session %s %r: %s until %s",
            sid,
            session.get("title"),
            "publishing (host room)" if sending else "playing (receiving room)",
            leave_at.isoformat(),
        )
        if sending and not session.get("may_publish"):
            logger.warning("session %s: held in this room but publishing is not allowed", sid)
            await self._set_state(State.WAITING, sid, "may not publish")
            await self._sleep_until(leave_at)
            return
        counting = asyncio.ensure_future(self._post_headcounts(session))
        ended = asyncio.Event()
        following = asyncio.ensure_future(self._follow_events(sid, ended))
        backoff = Backoff(self.config.backoff_base_seconds, self.config.backoff_max_seconds)
        retry = False
        try:
            while not self._stop.is_set() and self.clock.now() < leave_at:
                if ended.is_set():
                    logger.info("session %s: leaving (ended)", sid)
                    self._finished.add(sid)
                    return
                if retry:
                    delay = backoff.next_delay()
                    logger.info("session %s: reconnecting in %.1f s", sid, delay)
                    if (
                        await self._sleep_until(
                            min(self.clock.now() + dt.timedelta(seconds=delay), leave_at),
                            server_back=True,
                            ended=ended,
                        )
                        == "stop"
                    ):
                        return
                    if self.clock.now() >= leave_at or ended.is_set():
                        continue
                retry = True
                await self._set_state(State.JOINING, sid)
                try:
                    conn = await self._connect(session, sending, ended)
                except DeviceRefused:
                    raise
                except ApiError as exc:
                    logger.warning("session %s: refused: %s", sid, exc)
                    if exc.status in (404, 410):
                        self._finished.add(sid)
                        return  # deleted or ended: back to the schedule
                    continue
                except ServerUnavailable as exc:
                    self._mark_down(str(exc))
                    continue
                except NotConnected as exc:
                    logger.warning("session %s: %s", sid, exc)
                    continue
                except RelayUnavailable:
                    await self._no_relay(sid)
                    continue
                except Exception:
                    logger.exception("session %s: could not connect", sid)
                    continue
                self.connections_made += 1
                self._server_back.clear()
                await self._set_state(State.PUBLISHING if sending else State.PLAYING, sid)
                started = asyncio.get_running_loop().time()
                try:
                    reason = await self._hold(conn, sid, leave_at, ended)
                finally:
                    await conn.close()
                    self.connection = None
                if reason in ("ended", "stop", "removed"):
                    logger.info("session %s: leaving (%s)", sid, reason)
                    if reason != "stop":
                        self._finished.add(sid)
                    return
                logger.warning("session %s: connection %s; reconnecting", sid, reason)
                if reason == "server-back" or (
                    asyncio.get_running_loop().time() - started >= STABLE_SECONDS
                ):
                    backoff.reset()
                    retry = False
        finally:
            await cancel_and_wait([counting, following])
            self.sink = None
            self.events = None
            self.recording = False

    async def _follow_events(self, sid: str, ended: asyncio.Event) -> None:
        """Follow the session's events while attending; an end (or a vanished session) sets
        ``ended``. A server without events only loses the recording badge and the early end."""
        backoff = Backoff(self.config.backoff_base_seconds, self.config.backoff_max_seconds)
        self.events = SessionEvents(self.api, sid, lambda m: self._session_event(sid, m), backoff)
        try:
            outcome = await self.events.run()
        except Exception:  # a bug here must not end the attendance: media goes on
            logger.exception("session %s: following its events failed", sid)
            return
        if outcome != "unsupported":
            ended.set()

    def _session_event(self, sid: str, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "recording":
            on = message.get("on") is True
            if on != self.recording:
                self.recording = on
                logger.info("session %s: recording %s", sid, "started" if on else "stopped")
            if self.sink is not None:
                self.sink.set_recording(on)
        elif kind == "ended":
            logger.info("session %s: the server says it has ended", sid)
        else:
            logger.debug("session %s: ignoring a %r event", sid, kind)

    async def _connect(
        self, session: dict[str, Any], sending: bool, ended: asyncio.Event
    ) -> Connection:
        sid = session["id"]
        rtc = self.rtc_configuration()
        if sending:
            media = self._input_factory()
            conn = await publish(self.api, sid, media, rtc)
        else:
            sink = self._sink_factory(sid)
            try:
                conn = await play(self.api, sid, sink, rtc)
            except BaseException:
                await sink.close()
                raise
            self.sink = sink
            sink.set_recording(self.recording)  # the latest news, also from during the offer
        self.connection = conn
        logger.info("session %s: %s resource %s", sid, conn.kind, conn.resource_url)
        # An answer is not a connection: ICE may never connect (UDP blocked, no TURN).
        why = await self._first(
            connected=conn.connected.wait(),
            lost=conn.lost.wait(),
            stop=self._stop.wait(),
            ended=ended.wait(),
            timeout=asyncio.sleep(self.config.connect_timeout_seconds),
        )
        if why != "connected":
            await conn.close()
            self.connection = self.sink = None
            if why == "timeout":
                raise NotConnected(
                    f"media did not connect in {self.config.connect_timeout_seconds:.0f} s "
                    "(is UDP blocked? then the server needs turn_urls and turn_secret, "
                    "and this PC perhaps relay_only)"
                )
            raise NotConnected(conn.lost_reason or why)
        return conn

    async def _hold(
        self, conn: Connection, sid: str, leave_at: dt.datetime, ended: asyncio.Event
    ) -> str:
        """Wait while connected; say why it stopped: ended, stop, removed, lost, server-back."""
        while True:
            refresh = self.clock.now() + dt.timedelta(seconds=self.config.schedule_refresh_seconds)
            why = await self._first(
                stop=self._stop.wait(),
                ended=ended.wait(),
                lost=conn.lost.wait(),
                **{"server-back": self._server_back.wait()},
                time=self.clock.sleep_until(min(leave_at, refresh)),
            )
            if why == "lost":
                return f"lost ({conn.lost_reason})"
            if why != "time":
                return why
            if self.clock.now() >= leave_at:
                return "ended"
            if not await self._still_scheduled(sid):
                return "removed"

    async def _still_scheduled(self, sid: str) -> bool:
        """Staff may end or move a session early; a failed check keeps the session going."""
        try:
            schedule = await self.api.schedule(self.config.schedule_days)
        except DeviceRefused:
            raise
        except (ServerUnavailable, ApiError) as exc:
            logger.info("schedule check failed (%s); staying in %s", exc, sid)
            return True
        self._take_ice_servers(schedule)  # fresh TURN credentials for a reconnect
        for session in schedule["sessions"]:
            if session["id"] == sid:
                if session.get("phase") == "ended" or self.clock.now() >= parse_time(
                    session["ends_at"]
                ):
                    return False
                return True
        return False

    # -- heartbeats and headcounts ---------------------------------------------------------------
    async def _heartbeats(self) -> None:
        """Report the state; while the server is unreachable, also probe every few seconds
        so that the agent rejoins soon after it is back (a heartbeat is one small request)."""
        interval = self.config.heartbeat_seconds
        # A heartbeat must not hang for long on a dead connection: it is the probe.
        timeout = min(self.config.http_timeout_seconds, max(2.0, interval))
        while not self._stop.is_set():
            self._state_event.clear()
            try:
                if not self._refused_now:
                    await self.api.heartbeat(self.state, self.session_id, self.detail, timeout)
                    self._mark_up()
            except DeviceRefused as exc:
                logger.debug("heartbeat refused: %s", exc)
            except ServerUnavailable as exc:
                self._mark_down(str(exc))
            except ApiError as exc:
                logger.warning("heartbeat rejected: %s", exc)
            await self._first(
                stop=self._stop.wait(),
                change=self._state_event.wait(),
                time=self.clock.sleep_until(
                    self.clock.now()
                    + dt.timedelta(
                        seconds=min(interval, DOWN_PROBE_SECONDS) if self._server_down else interval
                    )
                ),
            )

    async def _post_headcounts(self, session: dict[str, Any]) -> None:
        """Post the room's count at the start (if known) and on every change."""
        sid, venue = session["id"], session.get("headcount_venue")
        if not venue:
            logger.debug("session %s: no headcount for this device", sid)
            return
        version = self.headcounts.version
        fresh = version > self._counted_version  # set since the last session began
        self._counted_version = version
        if fresh and self.headcounts.value is not None:
            await self._post_count(sid, venue, self.headcounts.value)
        elif self.config.headcount is not None:
            await self._post_count(sid, venue, self.config.headcount)
        while True:
            version = await self.headcounts.wait_change(version)
            self._counted_version = version
            if self.headcounts.value is not None:
                await self._post_count(sid, venue, self.headcounts.value)

    async def _post_count(self, sid: str, venue: str, count: int) -> None:
        backoff = Backoff(self.config.backoff_base_seconds, self.config.backoff_max_seconds)
        while True:
            try:
                result = await self.api.headcount(sid, venue, count)
            except ServerUnavailable as exc:
                delay = backoff.next_delay()
                logger.info("headcount: %s; retrying in %.1f s", exc, delay)
                if await self._sleep_for(delay) == "stop":
                    return
                continue
            except ApiError as exc:
                logger.error("headcount %d for %s refused: %s", count, sid, exc)
                return
            self.headcounts_posted.append((sid, count))
            logger.info(
                "headcount: %d in the room posted for %s (in person now %s)",
                count,
                sid,
                result.get("in_person"),
            )
            return


def _describe(device: dict[str, Any] | None) -> str:
    if not device:
        return "unknown"
    where = device.get("room_name") or device.get("room") or "no room"
    return (
        f"{device.get('kind')} {device.get('name') or device.get('id')} at "
        f"{device.get('venue_name') or device.get('venue')}, {where}"
    )
