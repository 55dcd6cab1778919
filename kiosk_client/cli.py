"""The ``kohtaamo-kiosk`` command: ``run`` (the room PC's agent), ``publish`` and ``watch``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Sequence
from typing import Any

import aiohttp

from kiosk_client.agent import Agent
from kiosk_client.api import ApiError, ServerApi, ServerUnavailable
from kiosk_client.backoff import Backoff
from kiosk_client.config import ConfigError, KioskConfig, load_config
from kiosk_client.events import SessionEvents
from kiosk_client.ice import (
    choose_servers,
    restrict_host_addresses,
    rtc_configuration,
    set_consent,
)
from kiosk_client.media import open_input, play, publish
from kiosk_client.sinks import NullSink, Sink, file_sink

logger = logging.getLogger("kohtaamo-kiosk")


def setup(config: KioskConfig) -> None:
    """Logging and the process-wide ICE settings, once, from the configuration."""
    logging.basicConfig(
        level=config.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("aioice").setLevel(
        max(logging.WARNING, logging.getLevelName(config.log_level))
    )
    restrict_host_addresses(config.ice_host_addresses)
    set_consent(config.ice_consent_interval, config.ice_consent_failures)


def _rtc(config: KioskConfig) -> Any:
    """The PC's own ICE servers (``publish`` and ``watch`` have no device API to ask)."""
    servers = choose_servers(config.ice_servers, config.turn_transport)
    return rtc_configuration(servers, config.relay_only)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML file (default: $KOHTAAMO_KIOSK_CONFIG)")
    parser.add_argument("--server", help="server URL, e.g. https://kohtaamo.example.org")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kohtaamo-kiosk", description="Kohtaamo's agent and tools for room PCs."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="follow the room's schedule (the unattended agent)")
    _add_common(run)
    run.add_argument("--token", help="the device token kd_… (better: $KOHTAAMO_KIOSK_TOKEN)")
    run.add_argument("--lead-seconds", type=float, help="join this long before the start")
    run.add_argument("--input", help="host room: media file or capture device to publish")
    run.add_argument("--input-format", help="PyAV/FFmpeg input format, e.g. v4l2")
    run.add_argument("--sink", choices=["auto", "window", "file", "null"])
    run.add_argument("--headcount", type=int, help="in-person count posted at each start")
    run.add_argument("--headcount-file", help="a file holding the room's current count")
    run.add_argument(
        "--headcount-stdin",
        action="store_true",
        default=None,
        help="read counts from standard input (23, +1, -1)",
    )

    pub = commands.add_parser("publish", help="publish a media file or device (WHIP)")
    _add_common(pub)
    pub.add_argument("file", help="media file (or device with --format)")
    pub.add_argument("--session", required=True)
    pub.add_argument("--token", required=True, help="device token or the session's publish token")
    pub.add_argument("--format", default="", help="input format, e.g. v4l2 for a camera")
    pub.add_argument("--loop", action="store_true", help="repeat the file until stopped")
    pub.add_argument("--duration", type=float, help="stop after this many seconds")

    watch = commands.add_parser(
        "watch", help="watch a session (WHEP), count or record frames, follow its events"
    )
    _add_common(watch)
    watch.add_argument("--session", required=True)
    watch.add_argument("--token", help="join code (private sessions) or device token")
    watch.add_argument(
        "--record",
        help="write what arrives to this file (.mkv, .webm, .mp4): camera and screen share "
        "as two video streams, and the sound",
    )
    watch.add_argument("--duration", type=float, help="stop after this many seconds")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides: dict[str, Any] = {"server": args.server, "log_level": args.log_level}
    if args.command == "run":
        overrides.update(
            token=args.token,
            lead_seconds=args.lead_seconds,
            input=args.input,
            input_format=args.input_format,
            sink=args.sink,
            headcount=args.headcount,
            headcount_file=args.headcount_file,
            headcount_stdin=args.headcount_stdin,
        )
    try:
        config = load_config(args.config, overrides=overrides)
    except ConfigError as exc:
        print(f"kohtaamo-kiosk: configuration: {exc}", file=sys.stderr)
        return 2
    if not config.server:
        print("kohtaamo-kiosk: --server (or server in the config) is required", file=sys.stderr)
        return 2
    setup(config)
    try:
        if args.command == "run":
            if not config.token:
                print("kohtaamo-kiosk: a device token is required (--token)", file=sys.stderr)
                return 2
            return asyncio.run(run_agent(config))
        if args.command == "publish":
            return asyncio.run(
                publish_file(
                    config,
                    args.file,
                    args.session,
                    args.token,
                    args.format,
                    args.loop,
                    args.duration,
                )
            )
        return asyncio.run(
            watch_session(config, args.session, args.token, args.record, args.duration)
        )
    except KeyboardInterrupt:
        return 130


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def run_agent(config: KioskConfig) -> int:
    agent = Agent(config)
    stop = asyncio.Event()
    _stop_on_signals(stop)

    async def relay() -> None:
        await stop.wait()
        logger.info("stopping on a signal")
        agent.stop()

    relay_task = asyncio.ensure_future(relay())
    try:
        await agent.run()
    finally:
        relay_task.cancel()
    return 0


async def publish_file(
    config: KioskConfig,
    source: str,
    session_id: str,
    token: str,
    fmt: str = "",
    loop: bool = False,
    duration: float | None = None,
) -> int:
    """Publish until the file ends (or forever with ``loop``), ``duration`` or Ctrl-C."""
    stop = asyncio.Event()
    _stop_on_signals(stop)
    try:
        media = open_input(source, fmt, loop=loop)
    except Exception as exc:
        print(f"kohtaamo-kiosk: cannot open {source}: {exc}", file=sys.stderr)
        return 1
    ended = asyncio.Event()
    for track in media.tracks():
        track.on("ended", ended.set)
    async with aiohttp.ClientSession() as http:
        api = ServerApi(http, config.server, token, config.http_timeout_seconds)
        try:
            conn = await publish(api, session_id, media, _rtc(config))
        except (ApiError, ServerUnavailable) as exc:
            print(f"kohtaamo-kiosk: publishing refused: {exc}", file=sys.stderr)
            return 1
        print(f"publishing {source} to {conn.resource_url}", flush=True)
        waits: list[Awaitable[Any]] = [stop.wait(), ended.wait(), conn.lost.wait()]
        if duration is not None:
            waits.append(asyncio.sleep(duration))
        tasks = [asyncio.ensure_future(w) for w in waits]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        lost = conn.lost.is_set() and not ended.is_set()
        await conn.close()
    print("connection lost" if lost else "done", flush=True)
    return 1 if lost else 0


async def watch_session(
    config: KioskConfig,
    session_id: str,
    token: str | None,
    record: str | None = None,
    duration: float | None = None,
) -> int:
    """Receive a session, print frame counts each second and the session's news (recording
    started or stopped); stop at ``duration``, Ctrl-C or the session's end. 0 if any frame
    arrived and the connection held."""
    stop = asyncio.Event()
    _stop_on_signals(stop)
    sink: Sink = file_sink(record) if record else NullSink()
    ended = asyncio.Event()

    def on_event(message: dict[str, Any]) -> None:
        if message["type"] == "recording":
            on = message.get("on") is True
            if on != sink.recording:
                print(f"recording {'started' if on else 'stopped'}", flush=True)
            sink.set_recording(on)
        elif message["type"] == "ended":
            print("the session has ended", flush=True)

    async with aiohttp.ClientSession() as http:
        api = ServerApi(http, config.server, token, config.http_timeout_seconds)
        try:
            conn = await play(api, session_id, sink, _rtc(config))
        except (ApiError, ServerUnavailable) as exc:
            await sink.close()
            print(f"kohtaamo-kiosk: watching refused: {exc}", file=sys.stderr)
            return 1
        print(f"watching {conn.resource_url}", flush=True)
        events = SessionEvents(
            api,
            session_id,
            on_event,
            Backoff(config.backoff_base_seconds, config.backoff_max_seconds),
        )

        async def follow() -> None:
            if await events.run() != "unsupported":
                ended.set()

        following = asyncio.ensure_future(follow())
        started = time.monotonic()
        while not stop.is_set() and not conn.lost.is_set() and not ended.is_set():
            if duration is not None and time.monotonic() - started >= duration:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            c = sink.counter
            print(f"frames: video {c.video} screen {c.screen} audio {c.audio}", flush=True)
        if conn.lost.is_set() and not ended.is_set():
            # A session that ends closes the media too: its "ended" may come just after.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), 2.0)
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await following
        lost = conn.lost.is_set() and not ended.is_set()
        await conn.close()
    c = sink.counter
    print(
        f"{'connection lost; ' if lost else ''}received video {c.video} screen {c.screen} "
        f"audio {c.audio} frames" + (f", recorded to {record}" if record else ""),
        flush=True,
    )
    return 0 if (c.video or c.screen or c.audio) and not lost else 1
