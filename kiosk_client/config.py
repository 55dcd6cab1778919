"""The room PC's configuration: defaults, then a TOML file, then environment, then flags.

Every key of the TOML file (top level or under ``[kiosk]``) can be overridden by an
environment variable ``KOHTAAMO_KIOSK_<KEY>`` (upper case), so a systemd unit can keep the
token out of the file (``EnvironmentFile=``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ENV_PREFIX = "KOHTAAMO_KIOSK_"
SINKS = ("auto", "window", "file", "null")
LANGUAGES = ("fi", "en")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
TURN_TRANSPORTS = ("any", "udp", "tcp")


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the key."""


def setting(
    doc: str,
    *,
    default: Any = dataclasses.MISSING,
    default_factory: Callable[[], Any] | None = None,
    shown: str | None = None,
) -> Any:
    """A field of :class:`KioskConfig` with its one-line description, so that the table in
    docs/operations.md is generated from this declaration (``kohtaamo docs --write``).

    ``shown`` replaces the default in the docs where the value itself says little (an empty
    tuple meaning "mpv or ffplay").
    """
    metadata = {"doc": doc, "shown": shown}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class KioskConfig:
    """Everything the agent needs; each key's description is declared here and generated into
    docs/operations.md ("Settings of a room PC")."""

    server: str = setting(
        "Server URL (`https://…`).",
        default="",
    )
    token: str = setting(
        "Device token `kd_…`; better given as `KOHTAAMO_KIOSK_TOKEN` than in the file.",
        default="",
    )
    lead_seconds: float = setting(
        "Join this many seconds before the start.",
        default=120.0,
    )
    schedule_days: int = setting(
        "Days of schedule fetched (1–14); 2 so that sessions just after midnight are seen.",
        default=2,
    )
    schedule_refresh_seconds: float = setting(
        "How often the schedule is fetched again (also while in a session).",
        default=60.0,
    )
    heartbeat_seconds: float = setting(
        "Heartbeat interval.",
        default=5.0,
    )
    backoff_base_seconds: float = setting(
        "First reconnect delay (after the immediate retry).",
        default=1.0,
    )
    backoff_max_seconds: float = setting(
        "Longest reconnect delay.",
        default=30.0,
    )
    refused_backoff_max_seconds: float = setting(
        "Longest delay between retries with a refused token.",
        default=600.0,
    )
    http_timeout_seconds: float = setting(
        "Timeout of each HTTP request.",
        default=10.0,
    )
    connect_timeout_seconds: float = setting(
        "Media that has not connected this long after the answer is retried (UDP blocked?"
        " add TURN).",
        default=20.0,
    )
    # What to send in the host room: a media file, or a camera (e.g. /dev/video0 with
    # input_format "v4l2") plus a microphone (audio_input "default", audio_format "pulse").
    input: str = setting(
        "Host room: media file, or capture device such as `/dev/video0`.",
        default="",
    )
    input_format: str = setting(
        "FFmpeg input format for a device: `v4l2`, `alsa`, `pulse`.",
        default="",
    )
    input_options: Mapping[str, str] = setting(
        'FFmpeg options, e.g. `{ video_size = "1280x720", framerate = "30" }`.',
        default_factory=dict,
    )
    audio_input: str = setting(
        'A separate microphone, e.g. `default` (with `audio_format = "pulse"`) or `hw:1`.',
        default="",
    )
    audio_format: str = setting(
        "FFmpeg input format of the microphone.",
        default="",
    )
    audio_options: Mapping[str, str] = setting(
        "FFmpeg options of the microphone.",
        default_factory=dict,
    )
    loop_input: bool = setting(
        "Repeat a media file (devices never loop).",
        default=True,
    )
    # How to show a receiving room's session.
    sink: str = setting(
        "Receiving room: `window` (needs a display and mpv or ffplay), `file`, `null`, or"
        " `auto` (window if possible, else null).",
        default="auto",
    )
    sink_file: str = setting(
        'File name for `sink = "file"`.',
        default="kiosk-{session}-{time}.mkv",
    )
    player_command: tuple[str, ...] = setting(
        'Player reading a NUT stream on stdin, e.g. `["mpv", "--fs", "-"]`.',
        default=(),
        shown="mpv or ffplay",
    )
    # Text drawn on the picture (the recording badge): Finnish or English.
    language: str = setting(
        "Text drawn on the picture (the recording badge): `fi` or `en`.",
        default="fi",
    )
    # In-person headcount of the room.
    headcount: int | None = setting(
        "Fixed in-person count posted at each start.",
        default=None,
    )
    headcount_file: str = setting(
        "File holding the room's current count, changed by room staff; every change is posted "
        "while a session runs.",
        default="",
    )
    headcount_stdin: bool = setting(
        "Read counts from standard input.",
        default=False,
    )
    # ICE: an explicit list (empty on a LAN), never aiortc's public STUN default.
    ice_servers: tuple[Mapping[str, Any], ...] = setting(
        'This PC\'s own STUN/TURN servers (`[{ urls = "turn:…", username = "…", '
        'credential = "…" }]`), used before those the server hands out with the schedule '
        "(`turn_urls` on the server); none on a LAN.",
        default=(),
    )
    ice_host_addresses: tuple[str, ...] = setting(
        "Local addresses to gather ICE candidates from.",
        default=(),
        shown="every interface",
    )
    # A site whose firewall lets nothing through but the TURN server: gather relay
    # candidates only (the server's device API hands out TURN credentials).
    relay_only: bool = setting(
        "Use the TURN relay only (a site whose firewall allows nothing else); the "
        "server's device API hands out the TURN credentials. Refused credentials are "
        "logged as one line saying why.",
        default=False,
    )
    # aiortc uses one TURN server: the first of this transport ("any": the server's order).
    turn_transport: str = setting(
        "Which of the server's TURN URLs the agent uses (aiortc uses one): `udp`, `tcp` "
        "or `any` (the server's order).",
        default="any",
    )
    ice_consent_interval: float = setting(
        "Seconds between ICE consent checks.",
        default=1.0,
    )
    ice_consent_failures: int = setting(
        "Failed consent checks before the connection counts as lost.",
        default=5,
    )
    log_level: str = setting(
        "`DEBUG`, `INFO`, `WARNING` or `ERROR`.",
        default="INFO",
    )

    def replace(self, **changes: Any) -> KioskConfig:
        return validate(dataclasses.replace(self, **changes))


FIELDS = {f.name: f for f in dataclasses.fields(KioskConfig)}


def _parse_ice_servers(value: Any) -> tuple[Mapping[str, Any], ...]:
    """A JSON/TOML list of ``{urls, username, credential}`` tables, or comma-separated URLs."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return ()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"ice_servers: not valid JSON: {exc}") from None
        else:
            return tuple({"urls": u.strip()} for u in text.split(",") if u.strip())
    if not isinstance(value, list | tuple):
        raise ConfigError("ice_servers: must be a list")
    servers: list[Mapping[str, Any]] = []
    for item in value:
        if isinstance(item, str):
            servers.append({"urls": item})
        elif isinstance(item, Mapping) and "urls" in item:
            servers.append(dict(item))
        else:
            raise ConfigError("ice_servers: each entry needs a 'urls' key")
    return tuple(servers)


def _coerce(name: str, value: Any) -> Any:
    """Turn a TOML or environment value into the field's type, with a clear error."""
    default = FIELDS[name].default
    if name == "ice_servers":
        return _parse_ice_servers(value)
    if name in ("ice_host_addresses", "player_command"):
        if isinstance(value, str):
            if name == "player_command":
                import shlex

                return tuple(shlex.split(value))
            return tuple(a.strip() for a in value.split(",") if a.strip())
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"{name}: must be a list of strings")
    if name in ("input_options", "audio_options"):
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{name}: not valid JSON: {exc}") from None
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name}: must be a table of strings")
        return {str(k): str(v) for k, v in value.items()}
    if name == "headcount":
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        try:
            if isinstance(value, bool) or isinstance(value, float):
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"headcount: must be a whole number, not {value!r}") from None
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{name}: must be true or false, not {value!r}")
    if isinstance(default, int | float):
        try:
            if isinstance(value, bool):
                raise ValueError
            return type(default)(value)
        except (TypeError, ValueError):
            kind = "a whole number" if isinstance(default, int) else "a number"
            raise ConfigError(f"{name}: must be {kind}, not {value!r}") from None
    if not isinstance(value, str):
        raise ConfigError(f"{name}: must be a string")
    return value


def validate(config: KioskConfig) -> KioskConfig:
    """Refuse values the agent cannot work with (the message names the key)."""
    if config.server and not config.server.startswith(("http://", "https://")):
        raise ConfigError("server: must start with http:// or https://")
    if config.sink not in SINKS:
        raise ConfigError(f"sink: must be one of {', '.join(SINKS)}, not {config.sink!r}")
    if config.language not in LANGUAGES:
        raise ConfigError(
            f"language: must be one of {', '.join(LANGUAGES)}, not {config.language!r}"
        )
    if config.turn_transport not in TURN_TRANSPORTS:
        raise ConfigError(
            f"turn_transport: must be one of {', '.join(TURN_TRANSPORTS)}, "
            f"not {config.turn_transport!r}"
        )
    if config.log_level.upper() not in LOG_LEVELS:
        raise ConfigError(f"log_level: must be one of {', '.join(LOG_LEVELS)}")
    if config.headcount is not None and config.headcount < 0:
        raise ConfigError("headcount: must not be negative")
    if not 1 <= config.schedule_days <= 14:
        raise ConfigError("schedule_days: must be between 1 and 14")
    for name in (
        "heartbeat_seconds",
        "schedule_refresh_seconds",
        "backoff_base_seconds",
        "backoff_max_seconds",
        "refused_backoff_max_seconds",
        "http_timeout_seconds",
        "connect_timeout_seconds",
        "ice_consent_interval",
    ):
        if getattr(config, name) <= 0:
            raise ConfigError(f"{name}: must be positive")
    if config.backoff_max_seconds < config.backoff_base_seconds:
        raise ConfigError("backoff_max_seconds: must not be below backoff_base_seconds")
    if config.lead_seconds < 0:
        raise ConfigError("lead_seconds: must not be negative")
    if config.ice_consent_failures < 1:
        raise ConfigError("ice_consent_failures: must be at least 1")
    return dataclasses.replace(
        config, server=config.server.rstrip("/"), log_level=config.log_level.upper()
    )


def load_config(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> KioskConfig:
    """Defaults ← TOML file ← ``KOHTAAMO_KIOSK_*`` environment ← ``overrides`` (flags)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if path is None and environ.get(ENV_PREFIX + "CONFIG"):
        path = environ[ENV_PREFIX + "CONFIG"]
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
        table = data.get("kiosk", data)
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [kiosk] must be a table")
        for key, value in table.items():
            if key == "kiosk":
                continue
            if key not in FIELDS:
                raise ConfigError(f"{path}: unknown key {key!r}")
            values[key] = _coerce(key, value)
    for name in FIELDS:
        env = environ.get(ENV_PREFIX + name.upper())
        if env is not None:
            values[name] = _coerce(name, env)
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = _coerce(name, value)
    return validate(KioskConfig(**values))
