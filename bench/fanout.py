"""Fan-out at scale: server CPU, memory, frame rate and join time per viewer, up to hundreds.

Run from the project root, in a loopback-only network namespace::

    make bench-fanout
    make bench-fanout BENCH_ARGS="--viewers 8,32,64,150,200 --runs 2"
    unshare -rn sh -c 'ip link set lo up && exec .venv/bin/python -m bench.fanout'

Every part is its own process: the server (the real app, :mod:`bench.app_server`, or the naive
baseline :mod:`bench.relay_server`, aiortc's MediaRelay with an encoder per viewer), one
publisher (640x480 VP8 at 30 fps with Opus), one viewer that decodes everything (proof that the
stream is valid), and viewer processes holding up to ``--per-process`` cheap viewers each (real
ICE, DTLS, SRTCP and receiver reports; frames counted from the cleartext RTP header without
decrypting, see :mod:`bench.fanout_clients`).

Per path and run: the idle server (publisher and the decoding viewer) is measured, then viewers
are added up to each count of the sweep and a window is measured after a warm-up. Reported per
count: server CPU from ``/proc/<pid>/stat`` (all threads; % of one core) and CPU per viewer above
idle; the viewer processes' CPU separately; per-viewer fps (median and the slowest viewer);
stalls (gaps over 100 ms between complete frames); join-to-first-frame, from the WHEP POST to
the viewer's first complete key frame (median and max over the viewers added at that step,
while the others keep watching); server RSS above idle per viewer. The baseline stops at the
first count where it no longer keeps up. Rows are medians over runs; the machine is shared, so
read single runs with care. The table goes to stdout and to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bench.common import DEFAULT_KBPS
from bench.driver import (
    ROOT,
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

PATHS = ("forwarding", "low", "relay")
PATH_LABELS = {
    "forwarding": "Kohtaamo forwarding",
    "low": "Kohtaamo low tier (320x240, transcoded once)",
    "relay": "MediaRelay + encoder per viewer",
}
#: A path keeps up while its median viewer gets at least this many frames per second.
FULL_RATE_FPS = 28.0
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def runqueue_wait(pid: int) -> float:
    """Seconds the process's main thread has spent runnable but waiting for a CPU."""
    try:
        with open(f"/proc/{pid}/task/{pid}/schedstat", encoding="ascii") as fh:
            return int(fh.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from /proc/<pid>/statm."""
    with open(f"/proc/{pid}/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * PAGE_SIZE


def machine() -> str:
    """A one-line description of the machine the table was measured on."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    python = platform.python_version()
    return f"{model}, {os.cpu_count()} CPUs, Linux {platform.release()}, Python {python}"


@dataclasses.dataclass
class Window:
    """One measured window: a path, a run, a viewer count."""

    path: str
    run: int
    viewers: int
    connected: int
    seconds: float
    server_cpu: float
    server_loop_cpu: float
    viewers_cpu: float  # the cheap viewers' processes together, % of one core
    others_cpu: float  # publisher and the decoding viewer
    server_rss: int
    server_wait: float  # % of the window the server's event loop was runnable, not running
    publisher_fps: float
    publisher_state: str
    fps: list[float]
    audio_pps: list[float]
    kbps: list[float]
    stalls: list[int]
    max_gap: list[float]
    join: list[float]  # seconds, the viewers added at this step (in a burst)
    probe_join: list[float]  # seconds, late joiners one at a time while the others watch
    decoder_fps: float | None
    decoder_sizes: list[list[int]]
    decoder_rgb: list[float]


class Options(argparse.Namespace):
    viewers: list[int]
    relay_viewers: list[int]
    low_viewers: list[int]
    seconds: float
    warmup: float
    runs: int
    paths: list[str]
    per_process: int
    kbps: int
    audio: bool
    uvloop: bool
    probes: int
    decoder: bool
    out: Path | None
    json: Path | None
    render: Path | None
    logs: Path | None
    deadline: float | None


class Fleet:
    """The client processes of one run: publisher, decoder, and batches of cheap viewers."""

    def __init__(self, opts: Options, start: Any, client_args: list[str]) -> None:
        self.opts = opts
        self._start = start
        self._args = client_args
        self.publisher: Child | None = None
        self.decoder: Child | None = None
        self.batches: list[Child] = []
        self._sizes: list[int] = []
        self.viewer_args: list[str] = []

    async def begin(self) -> None:
        module = ("-m", "bench.fanout_clients")
        self.publisher = await self._start(
            "publisher", *module, "publisher", *self._args, "--kbps", str(self.opts.kbps)
        )
        await self.publisher.read(STARTUP_TIMEOUT)
        if self.opts.decoder:
            self.decoder = await self._start("decoder", *module, "decoder", *self._args)
            await self.decoder.read(STARTUP_TIMEOUT)

    async def add(self, want: int) -> tuple[int, list[float]]:
        """Connect ``want`` more viewers; returns failures and the new viewers' join times."""
        plan: list[tuple[Child, int]] = []
        for index, size in enumerate(self._sizes):
            take = min(self.opts.per_process - size, want)
            if take > 0:
                plan.append((self.batches[index], take))
                self._sizes[index] += take
                want -= take
        while want > 0:
            take = min(self.opts.per_process, want)
            batch = await self._start(
                f"viewers{len(self.batches) + 1}",
                "-m",
                "bench.fanout_clients",
                "viewers",
                *self._args,
                *self.viewer_args,
            )
            self.batches.append(batch)
            self._sizes.append(take)
            plan.append((batch, take))
            want -= take
        answers = await asyncio.gather(
            *(batch.ask(f"add {k}", timeout=60 + 2 * k) for batch, k in plan)
        )
        joins = [float(j) for a in answers for j in a["join"] if j is not None]
        return sum(int(a["failed"]) for a in answers), joins

    async def probe(self, count: int) -> list[float]:
        """Join times of ``count`` late joiners, one at a time (they leave again)."""
        if not count or not self.batches:
            return []
        answer = await self.batches[0].ask(f"probe {count}", timeout=60 + 20 * count)
        return [float(j) for j in answer["join"] if j is not None]

    async def snap(self) -> tuple[dict[str, Any], dict[str, Any] | None, list[dict[str, Any]]]:
        assert self.publisher is not None
        answers = await asyncio.gather(
            self.publisher.ask("snap"),
            *([self.decoder.ask("snap")] if self.decoder else []),
            *(b.ask("snap") for b in self.batches),
        )
        decoder = answers[1] if self.decoder else None
        return answers[0], decoder, list(answers[2 if self.decoder else 1 :])


async def measure(
    path: str,
    run: int,
    viewers: int,
    joins: list[float],
    server: Child,
    fleet: Fleet,
    probes: list[float] | None = None,
) -> Window:
    opts = fleet.opts
    assert fleet.publisher is not None
    others = [fleet.publisher, *([fleet.decoder] if fleet.decoder else [])]
    pub0, dec0, before = await fleet.snap()
    t0, s0, l0 = time.monotonic(), server.cpu(), server.main_thread_cpu()
    q0 = runqueue_wait(server.proc.pid)
    v0 = sum(b.cpu() for b in fleet.batches)
    o0 = sum(c.cpu() for c in others)
    await asyncio.sleep(opts.seconds)
    t1, s1, l1 = time.monotonic(), server.cpu(), server.main_thread_cpu()
    q1 = runqueue_wait(server.proc.pid)
    v1 = sum(b.cpu() for b in fleet.batches)
    o1 = sum(c.cpu() for c in others)
    rss = rss_bytes(server.proc.pid)
    pub1, dec1, after = await fleet.snap()
    wall = t1 - t0
    stalls: list[int] = []
    for start, end in zip(before, after, strict=True):
        stalls.extend(b - a for a, b in zip(start["stalls"], end["stalls"], strict=False))
    decoder_fps = None
    if dec0 is not None and dec1 is not None:
        decoder_fps = (dec1["video"] - dec0["video"]) / (dec1["t"] - dec0["t"])
    return Window(
        path=path,
        run=run,
        viewers=viewers,
        connected=sum(len(s["video"]) for s in after),
        seconds=wall,
        server_cpu=100 * (s1 - s0) / wall,
        server_loop_cpu=100 * (l1 - l0) / wall,
        viewers_cpu=100 * (v1 - v0) / wall,
        others_cpu=100 * (o1 - o0) / wall,
        server_rss=rss,
        server_wait=100 * (q1 - q0) / wall,
        publisher_fps=(pub1["frames"] - pub0["frames"]) / (pub1["t"] - pub0["t"]),
        publisher_state=pub1["state"],
        fps=rates(before, after, "video"),
        audio_pps=rates(before, after, "audio"),
        kbps=[8 * r / 1000 for r in rates(before, after, "bytes")],
        stalls=stalls,
        max_gap=[g for s in after for g in s["max_gap"]],
        join=joins,
        probe_join=probes or [],
        decoder_fps=decoder_fps,
        decoder_sizes=dec1["sizes"] if dec1 else [],
        decoder_rgb=dec1["mean_rgb"] if dec1 else [],
    )


def progress(w: Window) -> None:
    fps = f"{statistics.median(w.fps):5.1f} fps (min {min(w.fps):4.1f})" if w.fps else "idle"
    join = f" join med {1000 * statistics.median(w.join):.0f} ms" if w.join else ""
    print(
        f"  {w.path:<10} run {w.run} viewers {w.viewers:>3} ({w.connected}): server "
        f"{w.server_cpu:5.1f} % (loop {w.server_loop_cpu:5.1f} %, waited {w.server_wait:4.1f} %) "
        f"rss {w.server_rss >> 20} MB "
        f" viewers {w.viewers_cpu:5.1f} %  {fps}  stalls {sum(w.stalls)}{join}  "
        f"publisher {w.publisher_fps:4.1f} fps {w.publisher_state}"
        f"  decoder {fmt(w.decoder_fps, '.1f')} fps",
        file=sys.stderr,
        flush=True,
    )


async def bench_path(
    path: str, run: int, opts: Options, workdir: Path, windows: list[Window]
) -> None:
    """One server, one publisher, one decoder, viewers added step by step."""
    logdir = workdir / f"{path}-{run}"
    logdir.mkdir()
    async with child_processes(logdir) as start:
        port = free_port()
        if path in ("forwarding", "low"):
            server_args = ["-m", "bench.app_server", "--port", str(port), "--workdir", str(logdir)]
            server_args += ["--uvloop"] if opts.uvloop else []
        else:
            server_args = [
                "-m",
                "bench.relay_server",
                "--port",
                str(port),
                "--kbps",
                str(opts.kbps),
            ]
        server, args = await start_server(start, port, server_args, opts.audio)
        fleet = Fleet(opts, start, args)
        if path == "low":
            fleet.viewer_args = ["--tier", "low"]
        await fleet.begin()
        await asyncio.sleep(opts.warmup)
        windows.append(await measure(path, run, 0, [], server, fleet))
        progress(windows[-1])
        have = 0
        counts = {"forwarding": opts.viewers, "low": opts.low_viewers, "relay": opts.relay_viewers}
        for count in counts[path]:
            failed, joins = await fleet.add(count - have)
            if failed:
                print(f"  {path} run {run}: {failed} viewer(s) failed", file=sys.stderr)
            have = count
            await asyncio.sleep(opts.warmup)
            probes = await fleet.probe(opts.probes)
            await asyncio.sleep(1.0)
            windows.append(await measure(path, run, count, joins, server, fleet, probes))
            progress(windows[-1])
            last = windows[-1]
            if last.publisher_state != "connected":
                print(f"  {path} run {run}: publisher connection lost", file=sys.stderr)
                break
            if path == "relay" and (not last.fps or statistics.median(last.fps) < FULL_RATE_FPS):
                break  # the baseline broke here: the rest of its sweep would say nothing new


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
    stalled_viewers: int | None
    stalls: int | None
    join_median: float | None
    join_max: float | None
    probe_median: float | None
    probe_max: float | None
    rss_per_viewer: float | None  # MB
    server_wait: float
    viewers_cpu: float
    viewer_cpu_each: float | None
    publisher_fps: float
    publisher_lost: int
    decoder_fps: float | None
    kbps: float | None
    audio_pps: float | None


def summarise(windows: Iterable[Window]) -> list[Row]:
    groups: dict[tuple[str, int], list[Window]] = {}
    idle: dict[tuple[str, int], Window] = {}
    for w in windows:
        groups.setdefault((w.path, w.viewers), []).append(w)
        if w.viewers == 0:
            idle[(w.path, w.run)] = w
    rows = []
    for (path, viewers), group in sorted(
        groups.items(), key=lambda kv: (PATHS.index(kv[0][0]), kv[0][1])
    ):
        base = [(w, idle.get((path, w.run))) for w in group]
        watched = [w for w in group if w.fps]
        rows.append(
            Row(
                path=path,
                viewers=viewers,
                runs=len(group),
                connected=min(w.connected for w in group),
                server_cpu=statistics.median(w.server_cpu for w in group),
                server_loop_cpu=statistics.median(w.server_loop_cpu for w in group),
                per_viewer=median_or_none(
                    (w.server_cpu - i.server_cpu) / viewers for w, i in base if i and viewers
                ),
                fps=median_or_none(statistics.median(w.fps) for w in watched),
                fps_min=median_or_none(min(w.fps) for w in watched),
                stalled_viewers=(
                    round(statistics.median(sum(s > 0 for s in w.stalls) for w in watched))
                    if watched
                    else None
                ),
                stalls=(
                    round(statistics.median(sum(w.stalls) for w in watched)) if watched else None
                ),
                join_median=median_or_none(statistics.median(w.join) for w in group if w.join),
                join_max=median_or_none(max(w.join) for w in group if w.join),
                probe_median=median_or_none(
                    statistics.median(w.probe_join) for w in group if w.probe_join
                ),
                probe_max=median_or_none(max(w.probe_join) for w in group if w.probe_join),
                rss_per_viewer=median_or_none(
                    (w.server_rss - i.server_rss) / viewers / 2**20
                    for w, i in base
                    if i and viewers
                ),
                viewers_cpu=statistics.median(w.viewers_cpu for w in group),
                server_wait=statistics.median(w.server_wait for w in group),
                viewer_cpu_each=median_or_none(
                    w.viewers_cpu / w.connected for w in group if w.connected
                ),
                publisher_fps=statistics.median(w.publisher_fps for w in group),
                publisher_lost=sum(w.publisher_state != "connected" for w in group),
                decoder_fps=median_or_none(w.decoder_fps for w in group),
                kbps=median_or_none(statistics.median(w.kbps) for w in watched),
                audio_pps=median_or_none(statistics.median(w.audio_pps) for w in watched),
            )
        )
    return rows


def report(rows: Sequence[Row], opts: Options, failures: Sequence[str], notes: str) -> str:
    lines = [
        f"640x480 VP8 {opts.kbps} kbps 30 fps{' + Opus' if opts.audio else ', no audio'}; "
        f"{opts.runs} run(s), {opts.seconds:g} s windows after {opts.warmup:g} s warm-up; "
        f"medians over runs. CPU is % of one core. {notes}",
        "",
        "| path | viewers | server CPU (event loop) | server loop waiting for a CPU "
        "| server CPU per viewer "
        "| fps median (min) | stalls > 100 ms (viewers) | join, one late joiner median / max "
        "| join, burst of new viewers median / max "
        "| server RSS per viewer | viewers' CPU (each) | publisher fps | decoding viewer fps |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        viewers = str(r.viewers)
        if r.connected < r.viewers:
            viewers += f" ({r.connected} connected)"
        if r.runs < opts.runs:
            viewers += f" ({r.runs} of {opts.runs} runs)"
        fps = "—" if r.fps is None else f"{r.fps:.1f} ({fmt(r.fps_min, '.1f')})"
        if r.fps is not None and r.fps < FULL_RATE_FPS:
            fps += " ⚠"
        if r.publisher_lost:
            fps += f" publisher lost in {r.publisher_lost}/{r.runs}"
        join = (
            "—"
            if r.join_median is None
            else f"{1000 * r.join_median:.0f} / {1000 * fmt_max(r.join_max):.0f} ms"
        )
        stalls = "—" if r.stalls is None else f"{r.stalls} ({r.stalled_viewers})"
        probe = (
            "—"
            if r.probe_median is None
            else f"{1000 * r.probe_median:.0f} / {1000 * fmt_max(r.probe_max):.0f} ms"
        )
        lines.append(
            f"| {PATH_LABELS[r.path]} | {viewers} | {r.server_cpu:.1f} % "
            f"({r.server_loop_cpu:.1f} %) | {r.server_wait:.1f} % "
            f"| {fmt(r.per_viewer, '.2f', ' %')} | {fps} "
            f"| {stalls} | {probe} | {join} | {fmt(r.rss_per_viewer, '.2f', ' MB')} "
            f"| {r.viewers_cpu:.0f} % ({fmt(r.viewer_cpu_each, '.2f', ' %')}) "
            f"| {r.publisher_fps:.1f} | {fmt(r.decoder_fps, '.1f')} |"
        )
    low = [r for r in rows if r.path == "low" and r.viewers]
    if low:
        lines += [
            "",
            "| low tier viewers | server CPU | above idle | off the event loop (the transcoder) "
            "| fps median (min) |",
            "|---:|---:|---:|---:|---:|",
        ]
        for r in low:
            above = None if r.per_viewer is None else r.per_viewer * r.viewers
            lines.append(
                f"| {r.viewers} | {r.server_cpu:.1f} % | {fmt(above, '.1f', ' %')} "
                f"| {r.server_cpu - r.server_loop_cpu:.1f} % "
                f"| {fmt(r.fps, '.1f')} ({fmt(r.fps_min, '.1f')}) |"
            )
    fwd = [r for r in rows if r.path == "forwarding" and r.per_viewer is not None and r.viewers]
    relay = [r for r in rows if r.path == "relay" and r.per_viewer is not None and r.viewers]
    full_rate = [r for r in relay if r.fps is not None and r.fps >= FULL_RATE_FPS]
    if fwd and relay:
        # The baseline at its largest count that still kept up; if none did, its smallest
        # count, whose per-viewer cost is then a lower bound (it was already saturated).
        best = max(full_rate, key=lambda r: r.viewers) if full_rate else relay[0]
        caveat = "its largest full-rate count" if full_rate else "already below full rate ⚠"
        lines += [
            "",
            "| comparison | relay CPU per viewer | forwarding CPU per viewer | ratio |",
            "|---|---:|---:|---:|",
        ]
        for r in fwd:
            assert r.per_viewer is not None and best.per_viewer is not None
            ratio = best.per_viewer / r.per_viewer if r.per_viewer > 0 else float("inf")
            slow = r.fps is not None and r.fps < FULL_RATE_FPS
            lines.append(
                f"| relay at {best.viewers} ({caveat}) vs forwarding at {r.viewers}"
                f"{' (below full rate ⚠: understated)' if slow else ''} "
                f"| {best.per_viewer:.2f} % | {r.per_viewer:.2f} % | {ratio:.0f}× |"
            )
    lines += [
        "",
        "Server CPU per viewer = (server CPU - idle server CPU) / viewers; idle = publisher and "
        "the decoding viewer connected. Viewers' CPU is the cheap viewer processes together "
        "(they share the machine with the server). Waiting for a CPU: the share of the window "
        "the server's event-loop thread was runnable but not running (/proc schedstat), i.e. "
        "starved by the rest of the machine rather than busy. "
        f"⚠ = median below {FULL_RATE_FPS:g} fps. "
        "Stalls: gaps over 100 ms between complete frames at a viewer, summed over viewers "
        "(viewers with any), over the window. Join: WHEP POST to the first complete key frame; "
        "one late joiner at a time while the others watch (the probe leaves again), and for "
        "the viewers added at that step all at once (4 offers in flight per viewer process).",
    ]
    if failures:
        lines += ["", "Failed:", *(f"- {f}" for f in failures)]
    return "\n".join(lines)


def fmt_max(value: float | None) -> float:
    return 0.0 if value is None else value


async def run_all(opts: Options, windows: list[Window], failures: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="kohtaamo-fanout-") as tmp:
        if opts.logs is not None:
            opts.logs.mkdir(parents=True, exist_ok=True)
            tmp = str(opts.logs)
        workdir = Path(tmp)

        async def one(path: str, run: int) -> None:
            await bench_path(path, run, opts, workdir, windows)

        await run_paths(opts.paths, opts.runs, one, failures)


def estimate_seconds(opts: Options) -> float:
    total = 0.0
    for path in opts.paths:
        counts = {"forwarding": opts.viewers, "low": opts.low_viewers}.get(path, opts.relay_viewers)
        total += 10 + opts.warmup + opts.seconds
        total += sum(opts.warmup + opts.seconds + 2 + n / 15 for n in counts)
    return total * opts.runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fanout",
        description="Fan-out at scale: Kohtaamo forwarding vs MediaRelay + encoder per viewer.",
    )
    parser.add_argument("--viewers", type=parse_counts, default=[8, 32, 64, 150])
    parser.add_argument(
        "--relay-viewers",
        type=parse_counts,
        default=[2, 4, 8, 16],
        help="the baseline's sweep; it stops where it no longer keeps up",
    )
    parser.add_argument(
        "--low-viewers",
        type=parse_counts,
        default=[1, 50],
        help="viewers of the low tier (one transcoder for all of them)",
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="measured window per step")
    parser.add_argument("--warmup", type=float, default=4.0, help="wait before each window")
    parser.add_argument("--runs", type=int, default=2, help="repetitions; medians are reported")
    parser.add_argument(
        "--paths",
        type=lambda s: [p for p in s.split(",") if p in PATHS],
        default=list(PATHS),
        help="forwarding,low,relay",
    )
    parser.add_argument("--per-process", type=int, default=50, help="cheap viewers per process")
    parser.add_argument("--kbps", type=int, default=DEFAULT_KBPS, help="VP8 bitrate (1000)")
    parser.add_argument("--no-audio", dest="audio", action="store_false", help="video only")
    parser.add_argument(
        "--probes", type=int, default=3, help="late joiners timed one at a time per step"
    )
    parser.add_argument("--uvloop", action="store_true", help="forwarding server on uvloop")
    parser.add_argument(
        "--no-decoder", dest="decoder", action="store_false", help="skip the decoding viewer"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/fanout-latest.md")
    parser.add_argument("--json", type=Path, default=None, help="also write every window here")
    parser.add_argument("--logs", type=Path, default=None, help="keep every process's log here")
    parser.add_argument(
        "--render", type=Path, default=None, help="only print the table of a --json file"
    )
    parser.add_argument("--deadline", type=float, default=None, help="give up after N seconds")
    opts = parser.parse_args(argv, namespace=Options())
    if opts.render is not None:
        saved = [
            Window(**{"probe_join": [], "server_wait": 0.0, **w})
            for w in json.loads(opts.render.read_text())
        ]
        opts.runs = max(w.run for w in saved)
        print(report(summarise(saved), opts, [], f"Rendered from {opts.render}."))
        return 0
    estimate = estimate_seconds(opts)
    deadline = opts.deadline or 2 * estimate + 180
    load_before = os.getloadavg()[0]
    print(
        f"fanout: {','.join(opts.paths)}; viewers {opts.viewers}, relay {opts.relay_viewers}, "
        f"{opts.runs} run(s); about {estimate / 60:.1f} min (hard stop {deadline / 60:.1f} min)"
        f"; load {load_before:.2f}",
        file=sys.stderr,
        flush=True,
    )
    windows: list[Window] = []
    failures: list[str] = []
    started = time.monotonic()

    async def main_task() -> None:
        task = asyncio.ensure_future(run_all(opts, windows, failures))
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            # Also when started in the background, where SIGINT is ignored by default.
            loop.add_signal_handler(signum, task.cancel)
        try:
            await asyncio.wait_for(task, deadline)
        except asyncio.CancelledError:
            failures.append("interrupted; results so far are shown")

    try:
        asyncio.run(main_task())
    except TimeoutError:
        failures.append(f"stopped at the {deadline:.0f} s deadline; results so far are shown")
    notes = (
        f"Machine: {machine()}; load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after; "
        f"{'uvloop' if opts.uvloop else 'asyncio'} server loop; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"{(time.monotonic() - started) / 60:.1f} min."
    )
    text = report(summarise(windows), opts, failures, notes)
    print(text)
    if opts.out is not None:
        opts.out.parent.mkdir(parents=True, exist_ok=True)
        opts.out.write_text(text + "\n")
    if opts.json is not None:
        opts.json.write_text(json.dumps([dataclasses.asdict(w) for w in windows], indent=1))
    return 1 if failures and not windows else 0


if __name__ == "__main__":
    raise SystemExit(main())
