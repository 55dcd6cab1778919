"""A throw-away PostgreSQL cluster for the tests, in a temporary folder.

The tests run inside ``unshare -rn`` (a network namespace holding only ``lo``), where
PostgreSQL cannot be started: it refuses to run as root, and ``runuser`` cannot change user
inside an unprivileged user namespace. So the cluster is started *before* entering the
namespace, listening on a Unix socket only (no TCP port at all: Unix sockets are files, and
files are shared with the namespace), and its URL is handed to the tests in
``KOHTAAMO_TEST_POSTGRES_URL``::

    python -m tests.pgcluster run -- unshare -rn sh -c '… pytest …'

starts the cluster, runs the command with the URL in its environment, and removes the cluster
afterwards whatever happens (the command's exit status is kept). Without PostgreSQL's
binaries the command runs without the URL, and the PostgreSQL half of the database tests is
skipped, visibly (or fails, under ``CI=1``: see ``tests/conftest.py``); so does
``KOHTAAMO_TEST_POSTGRES=0`` (``make test TEST_POSTGRES=0``), for a quick media-only run.

Debian's ``postgresql`` package puts the binaries in ``/usr/lib/postgresql/VERSION/bin``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

ENV_URL = "KOHTAAMO_TEST_POSTGRES_URL"
SUPERUSER = "postgres"


def find_bindir() -> Path | None:
    """The newest PostgreSQL binaries on this machine, or None."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _as_owner(command: Sequence[str], owner: str | None) -> list[str]:
    """PostgreSQL refuses to run as root: run its commands as ``owner`` then."""
    return ["runuser", "-u", owner, "--", *command] if owner else list(command)


class Cluster:
    """One cluster in ``folder``: ``start()`` returns its URL, ``stop()`` removes it."""

    def __init__(self, bindir: Path, folder: Path) -> None:
        self.bindir = bindir
        self.folder = folder
        self.data = folder / "data"
        self.socket_dir = folder
        self.log = folder / "postgres.log"
        self.owner = None
        if os.geteuid() == 0:
            self.owner = SUPERUSER
            pwd.getpwnam(self.owner)  # KeyError: no such user
        self.started = False

    @property
    def url(self) -> str:
        # asyncpg reaches a Unix socket through ``host=`` naming its folder.
        return f"postgresql://{SUPERUSER}@/postgres?host={self.socket_dir}"

    def _run(self, *command: str) -> None:
        subprocess.run(
            _as_owner([str(self.bindir / command[0]), *command[1:]], self.owner),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def start(self) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o755)
        if self.owner:
            shutil.chown(self.folder, self.owner)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", SUPERUSER, "-E", "UTF8",
                  "--no-sync", "--no-instructions")  # fmt: skip
        # No TCP at all (listen_addresses ''); durability is not wanted in a throw-away cluster.
        options = (
            f"-k {self.socket_dir} -c listen_addresses='' -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log),
                  "-w", "-t", "60", "start")  # fmt: skip
        self.started = True
        return self.url

    def stop(self) -> None:
        if self.started:
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.started = False
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def throwaway_cluster(bindir: Path | None = None) -> Iterator[str]:
    """A running cluster's URL for the ``with`` block; removed afterwards."""
    bindir = bindir or find_bindir()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL is not installed (no initdb found)")
    cluster = Cluster(bindir, Path(tempfile.mkdtemp(prefix="kohtaamo-pg-")))
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def run(command: Sequence[str]) -> int:
    """Run ``command`` with a throw-away cluster's URL in ``KOHTAAMO_TEST_POSTGRES_URL``."""
    if os.environ.get(ENV_URL):
        return subprocess.call(command)  # a cluster given from outside
    if os.environ.get("KOHTAAMO_TEST_POSTGRES") == "0" or find_bindir() is None:
        why = "turned off" if find_bindir() else "not installed"
        print(f"pgcluster: PostgreSQL {why}: its tests will be skipped", flush=True)
        return subprocess.call(command)
    # Ctrl-C or a TERM from CI must still remove the cluster: turn TERM into an exception.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        with throwaway_cluster() as url:
            print(f"pgcluster: throw-away PostgreSQL at {url}", flush=True)
            return subprocess.call(command, env={**os.environ, ENV_URL: url})
    except subprocess.CalledProcessError as exc:
        stderr = exc.stderr.decode(errors="replace").strip() if exc.stderr else ""
        print(f"pgcluster: could not start PostgreSQL: {exc}\n{stderr}", file=sys.stderr)
        return 2


def main(argv: Sequence[str]) -> int:
    if len(argv) >= 2 and argv[0] == "run" and argv[1] == "--":
        return run(argv[2:])
    print("usage: python -m tests.pgcluster run -- COMMAND…", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
