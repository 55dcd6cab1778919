"""A login flood against a live broadcast: ``/healthz`` latency and the viewers' frame rate.

Run from the project root, in a loopback-only network namespace::

    make bench-login-flood
    make bench-login-flood BENCH_ARGS="--runs 2 --seconds 8"
    unshare -rn sh -c 'ip link set lo up && exec .venv/bin/python -m bench.login_flood'

Every part is its own process: the server (the real app, :mod:`bench.app_server`, with one
staff account), a publisher (640x480 VP8 at 30 fps with Opus) and a process of cheap WHEP
viewers (:mod:`bench.fanout_clients`), and the flood: ``--clients`` clients in one more
process, each bound to its own source address (127.0.0.2, 127.0.0.3, …) so that throttling
per address does not hide the cost, each posting a wrong password for the staff account to
``/staff/login`` again as soon as the previous answer arrives (429s too: an attacker does not
wait). Three cases, each with a fresh server: no flood (the baseline), the flood with the
default throttle, and the flood with the throttle off (``login_failures_before_backoff`` huge,
so every attempt is hashed: the worst case for hashing off the loop).

Measured over the same window in each case: ``/healthz`` from this process every 50 ms
(median and max), the viewers' frame rate (median, slowest viewer), stalls (gaps over
100 ms between frames at a viewer), one correct login from 127.0.0.1 halfway through, the
server's CPU (all threads and the event loop's), and what the flood got (attempts, 401, 429).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector

from bench.common import driver_commands, reply, stdin_reader
from bench.driver import (
    STARTUP_TIMEOUT,
    Child,
    child_processes,
    fmt,
    free_port,
    median_or_none,
    rates,
    start_server,
)
from bench.fanout import runqueue_wait

STAFF = "anna"
PASSWORD = "correct horse battery staple"
#: The cases, in the order of the table; the value is ``login_failures_before_backoff``.
CASES = {"none": None, "throttle": 5, "off": 10**9}
LABELS = {
    "none": "no flood",
    "throttle": "flood, default throttle",
    "off": "flood, throttle off (every attempt hashed)",
}
HEALTHZ_INTERVAL = 0.050
STALL_SECONDS = 0.100


# -- the flood (a child process) ---------------------------------------------------------------
async def flood_client(base: str, source: str, until: float, statuses: Counter[int]) -> None:
    """Wrong passwords from ``source`` until ``until``, each as soon as the last is answered."""
    connector = TCPConnector(local_addr=(source, 0), limit=1)
    async with ClientSession(connector=connector, timeout=ClientTimeout(total=60)) as http:
        n = 0
        while time.monotonic() < until:
            n += 1
            data = {"name": STAFF, "password": f"wrong password {source} {n}"}
            try:
                async with http.post(
                    f"{base}/staff/login", data=data, allow_redirects=False
                ) as resp:
                    await resp.read()
                    statuses[resp.status] += 1
            except Exception:
                statuses[0] += 1  # no answer (counted as status 0)


async def run_flood(base: str, clients: int) -> None:
    """Wait for ``go SECONDS`` on stdin, flood, reply with the statuses; repeat until quit."""
    commands = await stdin_reader()
    reply({"event": "ready"})
    async for line in driver_commands(commands):
        verb, _, arg = line.partition(" ")
        if verb != "go":
            continue
        statuses: Counter[int] = Counter()
        started = time.monotonic()
        until = started + float(arg)
        sources = [f"127.0.0.{2 + i}" for i in range(clients)]
        await asyncio.gather(*(flood_client(base, s, until, statuses) for s in sources))
        reply(
            {
                "event": "flooded",
                "seconds": time.monotonic() - started,
                "statuses": {str(k): v for k, v in statuses.items()},
            }
        )


# -- the driver ---------------------------------------------------------------------------------
@dataclasses.dataclass
class Result:
    case: str
    run: int
    healthz: list[float]  # seconds
    fps: list[float]
    stalls: int
    max_gap: float
    publisher_fps: float
    login_seconds: float | None
    login_status: int | None
    server_cpu: float  # % of one core, all threads
    loop_cpu: float  # % of one core, the event loop's thread
    loop_wait: float  # % of the window the event loop's thread was runnable but not running
    publisher_wait: float  # the same for the publisher's and the viewers' event loops
    viewers_wait: float
    flood_seconds: float | None
    statuses: dict[str, int]


async def sample_healthz(base: str, until: float, out: list[float]) -> None:
    """GET /healthz every 50 ms (on a fixed grid; at once if the last one was late)."""
    async with ClientSession(timeout=ClientTimeout(total=30)) as http:
        next_at = time.monotonic()
        while next_at < until:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            started = time.perf_counter()
            async with http.get(f"{base}/healthz") as resp:
                await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"/healthz answered {resp.status}")
            out.append(time.perf_counter() - started)
            next_at = max(next_at + HEALTHZ_INTERVAL, time.monotonic())


async def correct_login(base: str, delay: float) -> tuple[float, int]:
    """One staff member logging in with the right password, ``delay`` s into the window."""
    await asyncio.sleep(delay)
    async with ClientSession(timeout=ClientTimeout(total=120)) as http:
        started = time.perf_counter()
        data = {"name": STAFF, "password": PASSWORD}
        async with http.post(f"{base}/staff/login", data=data, allow_redirects=False) as resp:
            await resp.read()
            return time.perf_counter() - started, resp.status


async def bench_case(case: str, run: int, opts: Options, workdir: Path) -> Result:
    logdir = workdir / f"{case}-{run}"
    logdir.mkdir()
    failures = CASES[case]
    async with child_processes(logdir) as start:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server_args = ["-m", "bench.app_server", "--port", str(port), "--workdir", str(logdir)]
        server_args += ["--staff", f"{STAFF}:{PASSWORD}"]
        server_args += ["--hash-workers", str(opts.hash_workers)]
        if failures is not None:
            server_args += ["--login-failures", str(failures)]
        server, client_args = await start_server(start, port, server_args, audio=True)
        module = ("-m", "bench.fanout_clients")
        publisher = await start("publisher", *module, "publisher", *client_args)
        await publisher.read(STARTUP_TIMEOUT)
        viewers = await start("viewers", *module, "viewers", *client_args)
        added = await viewers.ask(f"add {opts.viewers}", timeout=120)
        if added["failed"]:
            print(f"  {case}: {added['failed']} viewer(s) failed to connect", file=sys.stderr)
        flood: Child | None = None
        if failures is not None:
            flood_args = ["flood", "--base", base, "--clients", str(opts.clients)]
            flood = await start("flood", "-m", "bench.login_flood", *flood_args)
            await flood.read(STARTUP_TIMEOUT)
        await asyncio.sleep(opts.warmup)

        v0, p0 = await viewers.ask("snap"), await publisher.ask("snap")
        s0, l0, q0 = server.cpu(), server.main_thread_cpu(), runqueue_wait(server.proc.pid)
        pq0, vq0 = runqueue_wait(publisher.proc.pid), runqueue_wait(viewers.proc.pid)
        t0 = time.monotonic()
        healthz: list[float] = []
        sampler = asyncio.create_task(sample_healthz(base, t0 + opts.seconds, healthz))
        login = asyncio.create_task(correct_login(base, opts.seconds / 2))
        flooded: dict[str, Any] = {}
        if flood is not None:
            flooded = await flood.ask(f"go {opts.seconds}", timeout=opts.seconds + 120)
        else:
            await asyncio.sleep(opts.seconds)
        await sampler
        t1 = time.monotonic()
        s1, l1, q1 = server.cpu(), server.main_thread_cpu(), runqueue_wait(server.proc.pid)
        pq1, vq1 = runqueue_wait(publisher.proc.pid), runqueue_wait(viewers.proc.pid)
        v1, p1 = await viewers.ask("snap"), await publisher.ask("snap")
        login_seconds, login_status = await login
        if login_status != 303:
            print(f"  {case}: the correct login got {login_status}", file=sys.stderr)
        wall = t1 - t0
        stalls = sum(b - a for a, b in zip(v0["stalls"], v1["stalls"], strict=False))
        result = Result(
            case=case,
            run=run,
            healthz=healthz,
            fps=rates([v0], [v1], "video"),
            stalls=stalls,
            max_gap=max(v1["max_gap"], default=0.0),
            publisher_fps=(p1["frames"] - p0["frames"]) / (p1["t"] - p0["t"]),
            login_seconds=login_seconds,
            login_status=login_status,
            server_cpu=100 * (s1 - s0) / wall,
            loop_cpu=100 * (l1 - l0) / wall,
            loop_wait=100 * (q1 - q0) / wall,
            publisher_wait=100 * (pq1 - pq0) / wall,
            viewers_wait=100 * (vq1 - vq0) / wall,
            flood_seconds=flooded.get("seconds"),
            statuses=flooded.get("statuses", {}),
        )
    progress(result)
    return result


def progress(r: Result) -> None:
    healthz = f"{1000 * statistics.median(r.healthz):.1f} ms max {1000 * max(r.healthz):.0f} ms"
    fps = f"{fmt(median_or_none(r.fps), '.1f')} (min {fmt(min(r.fps, default=None), '.1f')})"
    waits = (
        f"{r.loop_wait:.1f} %; publisher {r.publisher_wait:.1f} %, viewers {r.viewers_wait:.1f} %"
    )
    print(
        f"  {LABELS[r.case]:<24} run {r.run}: /healthz median {healthz} ({len(r.healthz)} samples);"
        f" fps {fps}, stalls {r.stalls}, max gap {1000 * r.max_gap:.0f} ms;"
        f" login {fmt(r.login_seconds, '.2f')} s ({r.login_status});"
        f" server CPU {r.server_cpu:.0f} % (loop {r.loop_cpu:.0f} %);"
        f" waiting for a CPU: loop {waits};"
        f" flood {r.statuses} in {fmt(r.flood_seconds, '.1f')} s",
        file=sys.stderr,
        flush=True,
    )


def table(results: list[Result], opts: Options) -> str:
    header = (
        "| case | /healthz median | /healthz max | viewers' fps median (min) | stalls > 100 ms "
        "| longest frame gap | publisher fps | a correct login took | server CPU (event loop) "
        "| waiting for a CPU: server's loop / publisher / viewers "
        "| flood attempts | 401 | 429 | other |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    rows = []
    for case in CASES:
        group = [r for r in results if r.case == case]
        if not group:
            continue

        def med(values: list[float]) -> float:
            return statistics.median(values)

        statuses: Counter[str] = Counter()
        for r in group:
            statuses.update(r.statuses)
        n = len(group)
        flooding = CASES[case] is not None
        attempts = sum(statuses.values()) / n
        other = sum(v for k, v in statuses.items() if k not in ("401", "429")) / n
        rows.append(
            f"| {LABELS[case]} "
            f"| {1000 * med([statistics.median(r.healthz) for r in group]):.1f} ms "
            f"| {1000 * med([max(r.healthz) for r in group]):.0f} ms "
            f"| {med([statistics.median(r.fps) for r in group]):.1f} "
            f"({med([min(r.fps) for r in group]):.1f}) "
            f"| {med([r.stalls for r in group]):.0f} "
            f"| {1000 * med([r.max_gap for r in group]):.0f} ms "
            f"| {med([r.publisher_fps for r in group]):.1f} "
            f"| {fmt(median_or_none(r.login_seconds for r in group), '.2f', ' s')} "
            f"| {med([r.server_cpu for r in group]):.0f} % "
            f"({med([r.loop_cpu for r in group]):.0f} %) "
            f"| {med([r.loop_wait for r in group]):.1f} / "
            f"{med([r.publisher_wait for r in group]):.1f} / "
            f"{med([r.viewers_wait for r in group]):.1f} % "
            f"| {fmt(attempts if flooding else None, '.0f')} "
            f"| {fmt(statuses['401'] / n if flooding else None, '.0f')} "
            f"| {fmt(statuses['429'] / n if flooding else None, '.0f')} "
            f"| {fmt(other if flooding else None, '.0f')} |"
        )
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{v:.1f}" for v in opts.load)
    intro = (
        f"{opts.viewers} WHEP viewers of a 640x480 VP8 30 fps + Opus broadcast; "
        f"{opts.clients} flood clients (127.0.0.2-{1 + opts.clients}) for {opts.seconds:g} s; "
        f"password_hash_workers={opts.hash_workers}; {opts.runs} run(s), medians over runs "
        f"(flood counts: means); load average {load} (before, after); {when}.\n\n"
    )
    return intro + header + "\n".join(rows) + "\n"


class Options(argparse.Namespace):
    runs: int
    seconds: float
    warmup: float
    viewers: int
    clients: int
    hash_workers: int
    logs: Path | None
    base: str
    load: list[float]
    cases: list[str]


async def drive(opts: Options) -> None:
    results: list[Result] = []
    opts.load = [os.getloadavg()[0]]
    with contextlib.ExitStack() as stack:
        if opts.logs is not None:
            opts.logs.mkdir(parents=True, exist_ok=True)
            workdir = Path(tempfile.mkdtemp(dir=opts.logs))
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        cases = [c for c in CASES if not opts.cases or c in opts.cases]
        for run in range(1, opts.runs + 1):
            # Alternate the order so slow drift on a shared machine does not favour one case.
            for case in cases if run % 2 else list(reversed(cases)):
                results.append(await bench_case(case, run, opts, workdir))
    opts.load.append(os.getloadavg()[0])
    print(table(results, opts))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", nargs="?", default="driver", choices=("driver", "flood"))
    parser.add_argument("--runs", type=int, default=1, help="runs of each case")
    parser.add_argument("--seconds", type=float, default=8.0, help="the flood, and the window")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--viewers", type=int, default=5)
    parser.add_argument("--clients", type=int, default=20, help="flood clients (addresses)")
    parser.add_argument("--hash-workers", type=int, default=1, help="password_hash_workers")
    parser.add_argument(
        "--cases",
        type=lambda text: [c.strip() for c in text.split(",") if c.strip()],
        default=[],
        help=f"only these cases, comma-separated (of: {', '.join(CASES)})",
    )
    parser.add_argument("--logs", type=Path, default=None, help="keep every process's log here")
    parser.add_argument("--base", default="", help="(flood role) the server's URL")
    opts = parser.parse_args(argv, namespace=Options())
    if opts.role == "flood":
        asyncio.run(run_flood(opts.base, opts.clients))
    else:
        asyncio.run(drive(opts))


if __name__ == "__main__":
    main()
