"""Server CPU per viewer: Kohtaamo's forwarding path against aiortc's MediaRelay baseline.

Run from the project root, in a loopback-only network namespace::

    unshare -rn sh -c 'ip link set lo up && exec .venv/bin/python -m bench.forwarding'
    make bench BENCH_ARGS="--viewers 1,8,32 --seconds 8 --runs 3"

For each run and each path, a fresh server process starts (the real app from
:mod:`bench.app_server`, or the baseline :mod:`bench.relay_server`); one publisher process sends
640x480 VP8 at 30 fps with Opus; viewer processes (that count frames and do not decode, see
:mod:`bench.clients`) are added up to each requested count. After a warm-up, the server's CPU
time is read from ``/proc/<pid>/stat`` (every thread, so the baseline's encoder threads count)
over a fixed window, together with what each viewer received. The idle server (publisher only)
is measured first, so "CPU per viewer" is ``(CPU with N viewers - idle CPU) / N``. Every VP8
encoder (the publisher's, and the baseline's one per viewer) is held at ``--kbps``, so both
paths deliver the same bitrate. The two paths alternate order between runs, and each row is
the median over runs: the machine is shared, so read single runs with care.
Everything is bounded by timeouts and an overall deadline, so the run always ends by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from bench.common import DEFAULT_KBPS
from bench.driver import (
    STARTUP_TIMEOUT,
    Child,
    child_processes,
    fmt,
    free_port,
    median_or_none,
    parse_counts,
    rates,
    run_paths,
    start_server,
)

PATHS = ("forwarding", "relay")
PATH_LABELS = {
    "forwarding": "Kohtaamo forwarding",
    "relay": "MediaRelay + encoder per viewer",
}
#: Below this median rate a row is marked: the path no longer keeps up at that count.
FULL_RATE_FPS = 28.0


@dataclasses.dataclass
class Window:
    """One measurement: a path, a run, a viewer count."""

    path: str
    run: int
    viewers: int
    connected: int
    seconds: float
    server_cpu: float  # percent of one core
    server_loop_cpu: float  # percent of one core, the server's event-loop thread alone
    clients_cpu: float  # percent of one core, publisher and viewer processes together
    publisher_fps: float
    publisher_state: str  # "connected", unless the server starved the publisher's connection
    fps: list[float]  # per viewer, video frames per second received
    audio_pps: list[float]
    kbps: list[float]  # per viewer, video payload


async def snap_all(publisher: Child, batches: Sequence[Child]) -> tuple[dict[str, Any], ...]:
    return tuple(await asyncio.gather(publisher.ask("snap"), *(b.ask("snap") for b in batches)))


async def measure(
    path: str,
    run: int,
    viewers: int,
    seconds: float,
    server: Child,
    publisher: Child,
    batches: Sequence[Child],
) -> Window:
    clients = [publisher, *batches]
    before = await snap_all(publisher, batches)
    t0, server0, loop0 = time.monotonic(), server.cpu(), server.main_thread_cpu()
    clients0 = sum(c.cpu() for c in clients)
    await asyncio.sleep(seconds)
    t1, server1, loop1 = time.monotonic(), server.cpu(), server.main_thread_cpu()
    clients1 = sum(c.cpu() for c in clients)
    after = await snap_all(publisher, batches)
    wall = t1 - t0
    return Window(
        path=path,
        run=run,
        viewers=viewers,
        connected=sum(len(s["video"]) for s in after[1:]),
        seconds=wall,
        server_cpu=100 * (server1 - server0) / wall,
        server_loop_cpu=100 * (loop1 - loop0) / wall,
        clients_cpu=100 * (clients1 - clients0) / wall,
        publisher_fps=(after[0]["frames"] - before[0]["frames"]) / (after[0]["t"] - before[0]["t"]),
        publisher_state=after[0]["state"],
        fps=rates(before[1:], after[1:], "video"),
        audio_pps=rates(before[1:], after[1:], "audio"),
        kbps=[8 * r / 1000 for r in rates(before[1:], after[1:], "bytes")],
    )


class Options(argparse.Namespace):
    viewers: list[int]
    seconds: float
    warmup: float
    runs: int
    paths: list[str]
    per_process: int
    kbps: int
    audio: bool
    json: Path | None
    deadline: float | None


class ViewerPool:
    """Viewer batch processes, each holding up to ``per_process`` viewers."""

    def __init__(self, per_process: int, start: Callable[[str], Awaitable[Child]]) -> None:
        self.per_process = per_process
        self._start = start
        self.batches: list[Child] = []
        self._sizes: list[int] = []

    async def add(self, want: int) -> int:
        """Connect ``want`` more viewers (new processes when the others are full); failures."""
        plan: list[tuple[Child, int]] = []
        for index, size in enumerate(self._sizes):
            take = min(self.per_process - size, want)
            if take > 0:
                plan.append((self.batches[index], take))
                self._sizes[index] += take
                want -= take
        while want > 0:
            take = min(self.per_process, want)
            batch = await self._start(f"viewers{len(self.batches) + 1}")
            self.batches.append(batch)
            self._sizes.append(take)
            plan.append((batch, take))
            want -= take
        answers = await asyncio.gather(
            *(batch.ask(f"add {k}", timeout=40 + 2 * k) for batch, k in plan)
        )
        return sum(int(a["failed"]) for a in answers)


async def bench_path(
    path: str, run: int, opts: Options, workdir: Path, windows: list[Window]
) -> None:
    """One server process, one publisher, viewers added step by step; one window per step."""
    logdir = workdir / f"{path}-{run}"
    logdir.mkdir()
    async with child_processes(logdir) as start:
        port = free_port()
        if path == "forwarding":
            server_args = ["-m", "bench.app_server", "--port", str(port), "--workdir", str(logdir)]
        else:
            server_args = [
                "-m",
                "bench.relay_server",
                "--port",
                str(port),
                "--kbps",
                str(opts.kbps),
            ]
        server, client_args = await start_server(start, port, server_args, opts.audio)
        publisher = await start(
            "publisher", "-m", "bench.clients", "publisher", *client_args, "--kbps", str(opts.kbps)
        )
        await publisher.read(STARTUP_TIMEOUT)
        await asyncio.sleep(opts.warmup)
        idle_seconds = min(opts.seconds, 5.0)
        windows.append(await measure(path, run, 0, idle_seconds, server, publisher, []))
        progress(windows[-1])
        pool = ViewerPool(
            opts.per_process,
            lambda name: start(name, "-m", "bench.clients", "viewers", *client_args),
        )
        have = 0
        for count in opts.viewers:
            failed = await pool.add(count - have)
            if failed:
                print(f"  {path} run {run}: {failed} viewer(s) failed to connect", file=sys.stderr)
            have = count
            await asyncio.sleep(opts.warmup)
            windows.append(
                await measure(path, run, count, opts.seconds, server, publisher, pool.batches)
            )
            progress(windows[-1])
            if windows[-1].publisher_state != "connected":
                # An overloaded server stops answering ICE consent and the publisher drops;
                # that is a result (kept in the table), and nothing further can be measured.
                print(f"  {path} run {run}: publisher connection lost", file=sys.stderr)
                break


def progress(window: Window) -> None:
    fps = f"{statistics.median(window.fps):5.1f} fps" if window.fps else "    idle"
    print(
        f"  {window.path:<10} run {window.run} viewers {window.viewers:>3}: "
        f"server {window.server_cpu:6.1f} % (loop {window.server_loop_cpu:5.1f} %)  "
        f"clients {window.clients_cpu:6.1f} %  {fps}  "
        f"publisher {window.publisher_fps:4.1f} fps",
        file=sys.stderr,
        flush=True,
    )


@dataclasses.dataclass
class Row:
    """Medians over runs of one (path, viewer count)."""

    path: str
    viewers: int
    runs: int
    connected: int
    server_cpu: float
    server_loop_cpu: float
    per_viewer: float | None
    fps: float | None
    fps_min: float | None
    kbps: float | None
    audio_pps: float | None
    publisher_fps: float
    publisher_lost: int  # runs in which the publisher's connection was gone by the window's end
    clients_cpu: float


def summarise(windows: Iterable[Window]) -> list[Row]:
    by_key: dict[tuple[str, int], list[Window]] = {}
    idle: dict[tuple[str, int], float] = {}
    for w in windows:
        by_key.setdefault((w.path, w.viewers), []).append(w)
        if w.viewers == 0:
            idle[(w.path, w.run)] = w.server_cpu
    rows = []
    for (path, viewers), group in sorted(
        by_key.items(), key=lambda item: (PATHS.index(item[0][0]), item[0][1])
    ):
        per_viewer = [
            (w.server_cpu - idle[(path, w.run)]) / viewers
            for w in group
            if viewers and (path, w.run) in idle
        ]
        with_viewers = [w for w in group if w.fps]
        rows.append(
            Row(
                path=path,
                viewers=viewers,
                runs=len(group),
                connected=min(w.connected for w in group),
                server_cpu=statistics.median(w.server_cpu for w in group),
                server_loop_cpu=statistics.median(w.server_loop_cpu for w in group),
                per_viewer=statistics.median(per_viewer) if per_viewer else None,
                fps=median_or_none(statistics.median(w.fps) for w in with_viewers),
                fps_min=median_or_none(min(w.fps) for w in with_viewers),
                kbps=median_or_none(statistics.median(w.kbps) for w in with_viewers),
                audio_pps=median_or_none(statistics.median(w.audio_pps) for w in with_viewers),
                publisher_fps=statistics.median(w.publisher_fps for w in group),
                publisher_lost=sum(w.publisher_state != "connected" for w in group),
                clients_cpu=statistics.median(w.clients_cpu for w in group),
            )
        )
    return rows


def report(
    rows: Sequence[Row], opts: Options, failures: Sequence[str], load: tuple[float, float]
) -> str:
    """Markdown tables (pasteable into the README) plus the settings they were measured with."""
    lines = [
        f"640x480 VP8 {opts.kbps} kbps 30 fps{' + Opus' if opts.audio else ', no audio'}, "
        "server in its own process, "
        f"{os.cpu_count()} CPUs; "
        f"{opts.runs} run(s), {opts.seconds:g} s windows after {opts.warmup:g} s warm-up "
        "(idle: publisher only); medians over runs. CPU is % of one core. "
        f"Load average {load[0]:.2f} before, {load[1]:.2f} after.",
        "",
        "| path | viewers | server CPU | of which event loop | CPU per viewer (above idle) "
        "| viewer fps median (min) | video kbps per viewer | audio pkt/s | publisher fps "
        "| clients CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        viewers = str(row.viewers)
        if row.connected < row.viewers:
            viewers += f" ({row.connected} connected)"
        if row.runs < opts.runs:
            viewers += f" ({row.runs} of {opts.runs} runs)"
        slow = " ⚠" if row.fps is not None and row.fps < FULL_RATE_FPS else ""
        if row.publisher_lost:
            slow += f" publisher lost in {row.publisher_lost}/{row.runs} run(s)"
        fps = "—" if row.fps is None else f"{row.fps:.1f} ({fmt(row.fps_min, '.1f')}){slow}"
        lines.append(
            f"| {PATH_LABELS[row.path]} | {viewers} | {row.server_cpu:.1f} % "
            f"| {row.server_loop_cpu:.1f} % "
            f"| {fmt(row.per_viewer, '.2f', ' %')} | {fps} | {fmt(row.kbps, '.0f')} "
            f"| {fmt(row.audio_pps if opts.audio else None, '.0f')} "
            f"| {row.publisher_fps:.1f} | {row.clients_cpu:.0f} % |"
        )
    per_path = {(r.path, r.viewers): r for r in rows}
    counts = sorted({r.viewers for r in rows if r.viewers})
    ratio_lines = []
    for count in counts:
        fwd, relay = per_path.get(("forwarding", count)), per_path.get(("relay", count))
        if fwd is None or relay is None or fwd.per_viewer is None or relay.per_viewer is None:
            continue
        ratio = relay.per_viewer / fwd.per_viewer if fwd.per_viewer > 0 else math.inf
        note = "; ".join(
            f"{PATH_LABELS[r.path]} at {r.fps:.0f} fps: saturated, so not a per-viewer cost"
            for r in (relay, fwd)
            if r.fps is not None and r.fps < FULL_RATE_FPS
        )
        ratio_lines.append(
            f"| {count} | {relay.per_viewer:.2f} % | {fwd.per_viewer:.2f} % | {ratio:.1f}× "
            f"| {relay.server_cpu / fwd.server_cpu:.1f}× | {note} |"
        )
    if ratio_lines:
        lines += [
            "",
            "| viewers | CPU per viewer, relay | CPU per viewer, forwarding "
            "| ratio relay / forwarding | ratio of total server CPU | note |",
            "|---:|---:|---:|---:|---:|---|",
            *ratio_lines,
        ]
    lines += [
        "",
        f"⚠ = median viewer below {FULL_RATE_FPS:g} fps (that path no longer keeps up). "
        "Viewers count frames without decoding; clients share the machine with the server.",
    ]
    if failures:
        lines += ["", "Failed:", *(f"- {f}" for f in failures)]
    return "\n".join(lines)


def estimate_seconds(opts: Options) -> float:
    per_path = 6 + opts.warmup + min(opts.seconds, 5.0)
    per_path += sum(opts.warmup + opts.seconds + 1 + n / 8 for n in opts.viewers)
    return per_path * len(opts.paths) * opts.runs


async def run_all(opts: Options, windows: list[Window], failures: list[str]) -> None:
    """Every run of every path; results are appended as they come, so a deadline keeps them."""
    with tempfile.TemporaryDirectory(prefix="kohtaamo-bench-") as tmp:

        async def one(path: str, run: int) -> None:
            await bench_path(path, run, opts, Path(tmp), windows)

        await run_paths(opts.paths, opts.runs, one, failures)


def parse_paths(text: str) -> list[str]:
    paths = [p.strip() for p in text.split(",") if p.strip()]
    if not paths or any(p not in PATHS for p in paths):
        raise argparse.ArgumentTypeError(f"paths are among {', '.join(PATHS)}")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.forwarding",
        description="Server CPU per viewer: Kohtaamo forwarding vs aiortc MediaRelay.",
    )
    parser.add_argument("--viewers", type=parse_counts, default=[1, 8, 32], help="e.g. 1,8,32")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured window per step")
    parser.add_argument("--warmup", type=float, default=3.0, help="wait before each window")
    parser.add_argument("--runs", type=int, default=3, help="repetitions; medians are reported")
    parser.add_argument("--paths", type=parse_paths, default=list(PATHS), help="forwarding,relay")
    parser.add_argument(
        "--per-process", type=int, default=16, help="viewers per client process (default 16)"
    )
    parser.add_argument(
        "--kbps", type=int, default=DEFAULT_KBPS, help="VP8 bitrate of every encoder (1000)"
    )
    parser.add_argument(
        "--no-audio",
        dest="audio",
        action="store_false",
        help="video only (the publisher sends no Opus, viewers ask for none)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write every window here")
    parser.add_argument(
        "--deadline", type=float, default=None, help="give up after this many seconds"
    )
    opts = parser.parse_args(argv, namespace=Options())
    estimate = estimate_seconds(opts)
    deadline = opts.deadline or 2 * estimate + 120
    print(
        f"bench: paths {','.join(opts.paths)}, viewers {opts.viewers}, {opts.runs} run(s); "
        f"about {estimate / 60:.1f} min (hard stop after {deadline / 60:.1f} min); "
        f"load average {os.getloadavg()[0]:.2f}",
        file=sys.stderr,
        flush=True,
    )
    started, load_before = time.monotonic(), os.getloadavg()[0]
    windows: list[Window] = []
    failures: list[str] = []
    try:
        asyncio.run(asyncio.wait_for(run_all(opts, windows, failures), deadline))
    except TimeoutError:
        failures.append(f"stopped at the {deadline:.0f} s deadline; results so far are shown")
    print(
        f"bench: done in {(time.monotonic() - started) / 60:.1f} min; "
        f"load average {os.getloadavg()[0]:.2f}",
        file=sys.stderr,
    )
    if opts.json is not None:
        opts.json.write_text(json.dumps([dataclasses.asdict(w) for w in windows], indent=1))
    load = (load_before, os.getloadavg()[0])
    print(report(summarise(windows), opts, failures, load))
    return 1 if failures and not windows else 0


if __name__ == "__main__":
    raise SystemExit(main())
