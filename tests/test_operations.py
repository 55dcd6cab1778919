"""Running it as a city service: the systemd unit, the open-file limit, the operations checklist.

What was missing: no unit file (IT wrote their own, without a file limit, so a broadcast stopped
at ~200 viewers when the default 1024 descriptors ran out), and no warning when the limit was
too low for the expected number of peers.
"""

from __future__ import annotations

import argparse
import configparser
import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stream_server.attendance.ledger import AttendanceLedger
from stream_server.cli import build_parser
from stream_server.config import PROJECT_ROOT, SETTINGS, Settings
from stream_server.db.engine import Database
from stream_server.live import registry
from stream_server.live.registry import LiveRegistry

UNIT = PROJECT_ROOT / "deploy" / "kohtaamo.service"
OPERATIONS = PROJECT_ROOT / "docs" / "operations.md"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return parser


def test_the_unit_restarts_on_failure_holds_enough_files_and_is_sandboxed() -> None:
    service = unit()["Service"]
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "2"  # a configuration error stays down
    assert service["LimitNOFILE"] == "65536"
    assert service["KillSignal"] == "SIGTERM"  # the graceful stop
    # Longer than the server's own stop (aiohttp's shutdown timeout is 10 s).
    assert int(service["TimeoutStopSec"].removesuffix("s")) >= 20
    assert service["ExecStart"].endswith("kohtaamo serve")
    assert service["User"] == "kohtaamo"
    for option, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes",
        "RestrictNamespaces": "yes",
        "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes",
        "SystemCallFilter": "@system-service",
        "CapabilityBoundingSet": "",
    }.items():
        assert service.get(option) == value, option
    assert set(service["RestrictAddressFamilies"].split()) == {
        "AF_INET",
        "AF_INET6",
        "AF_UNIX",
        "AF_NETLINK",
    }
    assert service["StateDirectory"] == "kohtaamo"


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    """``systemd-analyze verify`` on the unit (pointed at this checkout's ``kohtaamo``, since it
    checks that the command exists); any warning (an unknown or misspelt key) fails too."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the unit was only parsed, not verified")
    kohtaamo = Path(sys.executable).parent / "kohtaamo"
    assert kohtaamo.exists(), kohtaamo
    text = UNIT.read_text().replace("/opt/kohtaamo/.venv/bin/kohtaamo", str(kohtaamo))
    copy = tmp_path / "kohtaamo.service"
    copy.write_text(text)
    done = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr


def test_a_misspelt_option_would_be_caught(tmp_path: Path) -> None:
    """The check above fails on warnings, because systemd only warns about unknown keys."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    kohtaamo = Path(sys.executable).parent / "kohtaamo"
    text = UNIT.read_text().replace("/opt/kohtaamo/.venv/bin/kohtaamo", str(kohtaamo))
    copy = tmp_path / "kohtaamo.service"
    copy.write_text(text.replace("LimitNOFILE=", "LimitNOFILES="))
    done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True)
    assert "Unknown key" in done.stderr


# -- the open-file limit ------------------------------------------------------------------------
async def test_start_up_warns_when_the_limit_cannot_hold_max_peers(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """At start-up the server raises its soft limit to the hard one; if even that cannot hold
    ``max_peers``, it says so (and caps ``max_peers`` at what the limit holds)."""
    monkeypatch.setattr(registry, "raise_open_file_limit", lambda: 1024)
    database = Database(settings.database_url)
    try:
        with caplog.at_level(logging.WARNING, logger="stream_server.live.registry"):
            capped = LiveRegistry(
                settings.replace(max_peers=300), database, AttendanceLedger(database)
            )
        assert any("max_peers is 300" in r.getMessage() for r in caplog.records), caplog.text
        assert capped.max_peers < 300
        caplog.clear()
        monkeypatch.setattr(registry, "raise_open_file_limit", lambda: 65536)
        with caplog.at_level(logging.WARNING, logger="stream_server.live.registry"):
            LiveRegistry(settings.replace(max_peers=300), database, AttendanceLedger(database))
        assert not caplog.records
    finally:
        await database.close()


# -- the checklist -------------------------------------------------------------------------------
def command_paths(parser: argparse.ArgumentParser) -> set[tuple[str, ...]]:
    """Every ``kohtaamo`` subcommand path (``("db", "upgrade")``…) the parser knows."""
    paths: set[tuple[str, ...]] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths.add((name,))
                paths |= {(name, *rest) for rest in command_paths(sub)}
    return paths


def test_the_operations_checklist_covers_what_the_city_runs() -> None:
    """docs/operations.md: every part of the issue's checklist, and every command it names
    exists (``kohtaamo …`` subcommands are checked against the CLI's parser)."""
    text = OPERATIONS.read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    for part in (
        "Database",
        "Backups",
        "Monitoring",
        "systemd",
        "Upgrades",
        "What is logged",
    ):
        assert any(part.lower() in h.lower() for h in headings), part
    paths = command_paths(build_parser())
    leaves = {p for p in paths if not any(q[: len(p)] == p and q != p for q in paths)}
    named = set(re.findall(r"`kohtaamo ([a-z][a-z -]*[a-z])", text))
    assert named
    for command in named:
        words = tuple(command.split())
        known = max((words[:i] for i in range(1, len(words) + 1) if words[:i] in paths), key=len)
        assert known in leaves, f"`kohtaamo {command}` in docs/operations.md"
    for setting in SETTINGS:
        if setting.name in {"attendance_retention_days", "log_client_addresses", "metrics_token"}:
            assert setting.name in text, setting.name


def test_readme_links_the_checklist() -> None:
    assert "docs/operations.md" in (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def test_the_example_settings_file_loads() -> None:
    """deploy/kohtaamo.toml, the example docs/operations.md installs, is valid as shipped."""
    from stream_server.config import load_settings

    settings = load_settings(PROJECT_ROOT / "deploy" / "kohtaamo.toml", environ={})
    assert settings.database_url.startswith("postgresql+asyncpg://kohtaamo@/kohtaamo")
    assert settings.attendance_retention_days is not None
    assert not settings.log_client_addresses
