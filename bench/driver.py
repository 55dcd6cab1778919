"""What the benchmark drivers (:mod:`bench.forwarding`, :mod:`bench.fanout`) share: the child
processes they drive through stdin/stdout lines, the server under test, the run loop and the
table's formatting. Standard library only; the media work happens in the child processes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
REQUEST_TIMEOUT = 15.0


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which process and why."""


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User + system CPU time of a whole process (all threads), or of one thread, from /proc."""
    stat = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    with open(stat, encoding="ascii") as fh:
        data = fh.read()
    # The command name may contain spaces; fields resume after its closing parenthesis.
    fields = data[data.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 (utime), 15 (stime)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_log(path: Path) -> BinaryIO:
    """A child's stderr file (opened before the process starts; a local file, so no await)."""
    return path.open("wb")


class Child:
    """A benchmark process driven through stdin/stdout lines; its stderr goes to a log file."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.name = name
        self.proc = proc
        self.log = log

    @classmethod
    async def start(cls, name: str, args: Sequence[str], logdir: Path) -> Child:
        log = logdir / f"{name}.log"
        with new_log(log) as stderr:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                *args,
                cwd=ROOT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
            )
        return cls(name, proc, log)

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def main_thread_cpu(self) -> float:
        """The thread that runs asyncio: aiortc's per-packet work, not its encoder threads."""
        return cpu_seconds(self.proc.pid, self.proc.pid)

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return "\n    ".join(text[-lines:])

    async def read(self, timeout: float) -> dict[str, Any]:
        """The next JSON line; anything else a library printed to stdout is skipped."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = await asyncio.wait_for(
                    self.proc.stdout.readline(), max(0.0, deadline - time.monotonic())
                )
            except TimeoutError:
                raise BenchError(f"{self.name}: no answer within {timeout:.0f} s") from None
            if not line:
                await asyncio.sleep(0.2)  # let the log be flushed
                raise BenchError(f"{self.name} exited:\n    {self.log_tail()}")
            if line.startswith(b"{"):
                break
        message: dict[str, Any] = json.loads(line)
        if message.get("event") == "error":
            raise BenchError(f"{self.name}: {message.get('error')}\n    {self.log_tail()}")
        return message

    async def ask(self, command: str, timeout: float = REQUEST_TIMEOUT) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()
        return await self.read(timeout)

    async def stop(self, signal_first: bool = False) -> None:
        """``quit`` (or SIGTERM), then SIGKILL if it does not end in time."""
        if self.proc.returncode is not None:
            return
        with contextlib.suppress(Exception):
            if signal_first:
                self.proc.terminate()
            elif self.proc.stdin is not None:
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT)
        except (TimeoutError, asyncio.CancelledError):
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
            raise


async def wait_listening(port: int, server: Child, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.returncode is not None:
            raise BenchError(f"server exited:\n    {server.log_tail()}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise BenchError(f"server not listening on {port} after {timeout:.0f} s") from None
            await asyncio.sleep(0.1)
        else:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return


def parse_counts(text: str) -> list[int]:
    counts = sorted({int(part) for part in text.split(",") if part.strip()})
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError("viewer counts must be positive integers")
    return counts


def rates(
    before: Sequence[dict[str, Any]], after: Sequence[dict[str, Any]], key: str
) -> list[float]:
    """Per-viewer rates from two snapshots of every viewer batch, each on its own clock."""
    out: list[float] = []
    for start, end in zip(before, after, strict=True):
        elapsed = end["t"] - start["t"]
        out.extend((b - a) / elapsed for a, b in zip(start[key], end[key], strict=False))
    return out


def median_or_none(values: Iterable[float | None]) -> float | None:
    """The median of the values that are there; None when there are none."""
    items = [v for v in values if v is not None]
    return statistics.median(items) if items else None


def fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "—" if value is None else f"{value:{spec}}{suffix}"


StartChild = Callable[..., Awaitable[Child]]


@contextlib.asynccontextmanager
async def child_processes(logdir: Path) -> AsyncIterator[StartChild]:
    """``start(name, *args)`` for one run's processes; all of them are stopped on the way out,
    clients first, so the server has nothing left to close."""
    children: list[Child] = []

    async def start(name: str, *args: str) -> Child:
        child = await Child.start(name, args, logdir)
        children.append(child)
        return child

    try:
        yield start
    finally:
        clients = [c for c in children if c.name != "server"]
        await asyncio.gather(*(c.stop() for c in clients), return_exceptions=True)
        await asyncio.gather(
            *(c.stop(signal_first=True) for c in children if c.name == "server"),
            return_exceptions=True,
        )


async def start_server(
    start: StartChild, port: int, server_args: Sequence[str], audio: bool
) -> tuple[Child, list[str]]:
    """The server under test (``server_args`` after ``python``), once it listens on ``port``;
    returns it and the arguments every client process needs to reach its session."""
    server = await start("server", *server_args)
    info = await server.read(STARTUP_TIMEOUT)
    await wait_listening(port, server, STARTUP_TIMEOUT)
    client_args = ["--base", f"http://127.0.0.1:{port}", "--session", info["session_id"]]
    if info.get("token"):
        client_args += ["--token", info["token"]]
    if not audio:
        client_args.append("--no-audio")
    return server, client_args


async def run_paths(
    paths: Sequence[str],
    runs: int,
    bench_path: Callable[[str, int], Awaitable[None]],
    failures: list[str],
) -> None:
    """Every run of every path; a failed one is noted and the rest carry on."""
    for run in range(1, runs + 1):
        # Alternate the order so slow drift on a shared machine does not favour one path.
        order = paths if run % 2 else list(reversed(paths))
        for path in order:
            try:
                await bench_path(path, run)
            except BenchError as exc:
                failures.append(f"{path} run {run}: {exc}")
                print(f"  {path} run {run} FAILED: {exc}", file=sys.stderr, flush=True)
