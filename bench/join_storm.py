"""A join storm: 100 WHEP viewers and signaling pages join within 5 s; is the server still fine?

Run from the project root, in a loopback-only network namespace::

    make bench-join-storm
    make bench-join-storm BENCH_ARGS="--whep 50 --ws 50 --seconds 5 --runs 3"

Every part is its own process: the real app (:mod:`bench.app_server`, with the default
per-address caps; 127.0.0.1 is a trusted proxy so that each client names its own address in
``X-Forwarded-For``), one publisher (640x480 VP8 at 30 fps with Opus), and client processes
(:mod:`bench.storm_clients`) that start their joins evenly over ``--seconds``, alternating WHEP
viewers and signaling pages. A join counts as done at its first complete key frame.

Measured while the storm runs and for two seconds after it:

* ``/healthz`` latency, asked every 100 ms (median, worst);
* the server's worst event-loop lag (a 10 ms probe inside the server process, reported by a
  benchmark-only route);
* failed joins (any refusal, or no frame within 30 s) and join-to-first-frame times;
* the server's CPU over the storm.

Then the probe's flood: ``--flood`` WHEP offers from one address within 0.4 s; with the
default caps ``max_peers_per_address`` are let in and the rest get 429.

Targets: /healthz under 100 ms, loop lag under 250 ms, no failed join. Rows are per run; the
machine is shared, so read single runs with care. The table goes to stdout and to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.driver import (
    ROOT,
    STARTUP_TIMEOUT,
    BenchError,
    Child,
    child_processes,
    fmt,
    free_port,
    start_server,
)

HEALTH_EVERY = 0.1
AFTER = 2.0
TARGETS = {"healthz_ms": 100.0, "lag_ms": 250.0}


async def poll_health(base: str, stop: asyncio.Event, out: list[float | None]) -> None:
    """``/healthz`` every 100 ms: its latency in ms (None when it failed or took over 5 s)."""
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        while not stop.is_set():
            began = time.perf_counter()
            try:
                async with http.get(f"{base}/healthz") as resp:
                    await resp.read()
                    ok = resp.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            out.append((time.perf_counter() - began) * 1000 if ok else None)
            await asyncio.sleep(max(0.0, HEALTH_EVERY - (time.perf_counter() - began)))


async def lag(base: str, reset: bool = False) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/bench/lag" + ("?reset=1" if reset else "")) as resp:
            report: dict[str, Any] = await resp.json()
            return report


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if n < total % parts else 0) for n in range(parts)]


async def one_run(args: argparse.Namespace, run: int, logdir: Path) -> dict[str, Any]:
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="storm-", dir=logdir))
    server_args = [
        "-m",
        "bench.app_server",
        "--port",
        str(port),
        "--workdir",
        str(workdir),
        "--per-address-limits",
    ]
    async with child_processes(logdir) as start:
        server, client_args = await start_server(start, port, server_args, audio=True)
        base = f"http://127.0.0.1:{port}"
        publisher = await start("publisher", "-m", "bench.clients", "publisher", *client_args)
        await publisher.read(STARTUP_TIMEOUT)  # ready
        plain = [a for a in client_args if a != "--no-audio"]
        whep = split(args.whep, args.processes)
        ws = split(args.ws, args.processes)
        clients: list[Child] = []
        for n in range(args.processes):
            clients.append(
                await start(
                    f"storm{n}",
                    "-m",
                    "bench.storm_clients",
                    *plain,
                    "--whep",
                    str(whep[n]),
                    "--ws",
                    str(ws[n]),
                    "--seconds",
                    str(args.seconds),
                    "--address-base",
                    f"10.{n + 1}.0.0",
                )
            )
        await asyncio.sleep(1.0)  # the clients import aiortc before the clock starts
        await lag(base, reset=True)
        health: list[float | None] = []
        stop = asyncio.Event()
        poller = asyncio.create_task(poll_health(base, stop, health))
        cpu_before, wall_before = server.cpu(), time.monotonic()
        replies = await asyncio.gather(
            *(c.ask("storm", timeout=args.seconds + 60) for c in clients)
        )
        storm_wall = time.monotonic() - wall_before
        await asyncio.sleep(AFTER)
        stop.set()
        await poller
        cpu = (server.cpu() - cpu_before) / (time.monotonic() - wall_before) * 100
        loop_lag = await lag(base)
        results = [r for reply in replies for r in reply["results"]]
        flood = await run_flood(start, plain, args) if args.flood else None
        dropped = await half_open_dropped(base, client_args) if args.half_open else None
    ok = [r for r in results if r["ok"]]
    joins = [r["join"] for r in ok]
    answered = [h for h in health if h is not None]
    return {
        "run": run,
        "peers": len(results),
        "whep": sum(1 for r in results if r["kind"] == "whep"),
        "ws": sum(1 for r in results if r["kind"] == "ws"),
        "seconds": args.seconds,
        "storm_wall": storm_wall,
        "failed": len(results) - len(ok),
        "errors": sorted({r["error"] for r in results if not r["ok"]})[:5],
        "join_median": statistics.median(joins) if joins else None,
        "join_max": max(joins) if joins else None,
        "healthz_median": statistics.median(answered) if answered else None,
        "healthz_max": max(answered) if answered else None,
        "healthz_failed": len(health) - len(answered),
        "healthz_asked": len(health),
        "lag_ms": loop_lag["worst_ms"],
        "lag_over_50ms": loop_lag["over_50ms"],
        "server_cpu": cpu,
        "flood": flood,
        "half_open": dropped,
    }


async def run_flood(start: Any, client_args: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """The probe's flood: ``--flood`` WHEP offers from one address within 0.4 s."""
    flood = await start(
        "flood",
        "-m",
        "bench.storm_clients",
        *client_args,
        "--whep",
        str(args.flood),
        "--ws",
        "0",
        "--seconds",
        "0.4",
        "--same-address",
        "--address-base",
        "192.0.2.66",
    )
    await asyncio.sleep(1.0)
    reply = await flood.ask("storm", timeout=90)
    results = reply["results"]
    refused = [r for r in results if not r["ok"]]
    return {
        "offers": len(results),
        "let_in": len(results) - len(refused),
        "refused_429": sum(1 for r in refused if "429" in (r["error"] or "")),
        "other_failures": sum(1 for r in refused if "429" not in (r["error"] or "")),
    }


async def peers(base: str) -> int:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/bench/peers") as resp:
            return int((await resp.json())["peers"])


async def half_open_dropped(base: str, client_args: list[str]) -> dict[str, Any]:
    """Five WHEP offers that never take their answer (ICE cannot complete): seconds until the
    server has dropped them (``connect_timeout_seconds``, 15 by default)."""
    from aiortc import RTCConfiguration, RTCPeerConnection

    from bench.common import loopback_only

    loopback_only()
    session = client_args[client_args.index("--session") + 1]
    before = await peers(base)
    offers = []
    async with aiohttp.ClientSession() as http:
        for n in range(5):
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            pc.addTransceiver("video", direction="recvonly")
            pc.addTransceiver("audio", direction="recvonly")
            await pc.setLocalDescription(await pc.createOffer())
            headers = {"Content-Type": "application/sdp", "X-Forwarded-For": f"192.0.2.{n + 1}"}
            async with http.post(
                f"{base}/whep/{session}", data=pc.localDescription.sdp, headers=headers
            ) as resp:
                if resp.status != 201:
                    raise BenchError(f"a half-open offer got {resp.status}")
            offers.append(pc)
    posted = time.monotonic()
    held = await peers(base) - before
    for _ in range(600):  # polled: the server announces nothing
        if await peers(base) <= before:
            break
        await asyncio.sleep(0.2)
    dropped_after = time.monotonic() - posted
    for pc in offers:
        await pc.close()
    return {"offers": len(offers), "held": held, "dropped_after": dropped_after}


def table(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    head = (
        "| run | peers (WHEP + WS) in | failed joins | join→first frame median / max "
        "| /healthz median / worst | worst loop lag | server CPU |\n"
        "|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for row in rows:
        lines.append(
            f"| {row['run']} | {row['peers']} ({row['whep']} + {row['ws']}) in "
            f"{row['seconds']:g} s | {row['failed']} | "
            f"{fmt(row['join_median'], '.2f', ' s')} / {fmt(row['join_max'], '.2f', ' s')} | "
            f"{fmt(row['healthz_median'], '.1f', ' ms')} / "
            f"{fmt(row['healthz_max'], '.1f', ' ms')}"
            f"{' (' + str(row['healthz_failed']) + ' failed)' if row['healthz_failed'] else ''}"
            f" | {row['lag_ms']:.0f} ms | {row['server_cpu']:.0f} % |"
        )
    worst_health = max((r["healthz_max"] or 1e9) for r in rows)
    worst_lag = max(r["lag_ms"] for r in rows)
    failed = sum(r["failed"] for r in rows)
    verdict = (
        f"\nTargets: /healthz under {TARGETS['healthz_ms']:.0f} ms (worst {worst_health:.1f} ms: "
        f"{'met' if worst_health < TARGETS['healthz_ms'] else 'MISSED'}), loop lag under "
        f"{TARGETS['lag_ms']:.0f} ms (worst {worst_lag:.0f} ms: "
        f"{'met' if worst_lag < TARGETS['lag_ms'] else 'MISSED'}), no failed join "
        f"({failed} failed: {'met' if not failed else 'MISSED'}).\n"
    )
    floods = [r["flood"] for r in rows if r["flood"]]
    if floods:
        verdict += "\nFlood from one address (the probe's 40 viewers in 0.4 s):\n\n"
        verdict += (
            "| run | offers | let in | refused 429 | other failures |\n|---|---|---|---|---|\n"
        )
        for row in rows:
            f = row["flood"]
            if f:
                verdict += (
                    f"| {row['run']} | {f['offers']} | {f['let_in']} | {f['refused_429']} "
                    f"| {f['other_failures']} |\n"
                )
    halves = [(r["run"], r["half_open"]) for r in rows if r["half_open"]]
    if halves:
        verdict += "\nOffers that never connect (ICE cannot complete):\n\n"
        verdict += "| run | offers | held by the server | all dropped after |\n|---|---|---|---|\n"
        for run, h in halves:
            verdict += f"| {run} | {h['offers']} | {h['held']} | {h['dropped_after']:.1f} s |\n"
    errors = sorted({e for r in rows for e in r["errors"]})
    if errors:
        verdict += "\nFailed joins said: " + "; ".join(errors) + "\n"
    return head + "\n".join(lines) + "\n" + verdict


async def main_async(args: argparse.Namespace) -> int:
    logdir = Path(tempfile.mkdtemp(prefix="join-storm-"))
    rows = []
    for run in range(1, args.runs + 1):
        try:
            row = await one_run(args, run, logdir)
        except BenchError as exc:
            print(f"run {run} FAILED: {exc}", file=sys.stderr)
            return 1
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "make bench-join-storm BENCH_ARGS=" + json.dumps(" ".join(sys.argv[1:]))
    header = (
        f"Join storm, {when}, `{command}`; {platform.node()}, "
        f"{platform.python_version()}, logs in {logdir}\n\n"
    )
    text = header + table(rows, args)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--whep", type=int, default=50, help="WHEP viewers in the storm")
    parser.add_argument("--ws", type=int, default=50, help="signaling pages in the storm")
    parser.add_argument("--seconds", type=float, default=5.0, help="the storm's length")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--flood", type=int, default=40, help="one address's offers (0: none)")
    parser.add_argument(
        "--no-half-open",
        dest="half_open",
        action="store_false",
        help="skip timing how soon never-connected offers are dropped (~15 s)",
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "join-storm-latest.md"
    )
    return asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
