"""One configuration object, declared in one table.

Every tunable is listed in :data:`SETTINGS` with its default and a one-line description.
Values come from (later wins): the defaults, an optional TOML file (``KOHTAAMO_CONFIG`` or
``kohtaamo --config FILE``), ``KOHTAAMO_*`` environment variables, command-line flags.
A test checks that every setting is documented in the README.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from stream_server.basics import DoorTimes
from stream_server.db.engine import DatabaseUrlError, normalise_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "KOHTAAMO_"


class ConfigError(ValueError):
    """A configuration value is malformed; the message names the setting."""


@dataclasses.dataclass(frozen=True)
class IceServer:
    """A STUN or TURN server handed to the server's and the clients' peer connections."""

    urls: str
    username: str | None = None
    credential: str | None = None

    def as_dict(self) -> dict[str, str]:
        data = {"urls": self.urls}
        if self.username is not None:
            data["username"] = self.username
        if self.credential is not None:
            data["credential"] = self.credential
        return data


def _parse_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return tuple(part.strip() for part in str(value).split(",") if part.strip())


def _parse_ice_servers(value: Any) -> tuple[IceServer, ...]:
    """Accept a TOML list of tables, a JSON list, or comma-separated ``stun:`` URLs."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return ()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"ice_servers: invalid JSON: {exc}") from exc
        else:
            value = [{"urls": url} for url in _parse_list(text)]
    servers = []
    for item in value:
        if isinstance(item, str):
            item = {"urls": item}
        if not isinstance(item, Mapping) or "urls" not in item:
            raise ConfigError("ice_servers: each entry needs 'urls'")
        urls = item["urls"]
        if not str(urls).startswith(("stun:", "stuns:", "turn:", "turns:")):
            raise ConfigError(f"ice_servers: {urls!r} is not a stun:/turn: URL")
        servers.append(IceServer(str(urls), item.get("username"), item.get("credential")))
    return tuple(servers)


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"not a boolean: {value!r}")


def _parse_codec(value: Any) -> str:
    codec = str(value).strip().upper()
    if codec not in {"H264", "VP8"}:
        raise ConfigError(f"video_codec must be H264 or VP8, not {value!r}")
    return codec


def _parse_log_level(value: Any) -> str:
    level = str(value).strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ConfigError(
            f"log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {value!r}"
        )
    return level


def _parse_public_url(value: Any) -> str:
    """Empty, or an ``http://`` / ``https://`` URL with a host (no trailing slash)."""
    text = str(value).strip().rstrip("/")
    if not text:
        return ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"public_url must be an http:// or https:// URL, not {value!r}")
    if parts.query or parts.fragment:
        raise ConfigError("public_url must not have a query or a fragment")
    return text


def _parse_limit(value: Any) -> int:
    number = int(value)
    if number < 0:
        raise ConfigError(f"not a count (0 or more): {value!r}")
    return number


def _parse_port_range(value: Any) -> tuple[int, int] | None:
    """``40000-40999`` (or a two-item list): the UDP ports media may use, both ends included."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        parts = [str(v) for v in value]
    else:
        text = str(value).strip()
        if not text:
            return None
        parts = text.split("-")
    try:
        low, high = (int(p.strip()) for p in parts)
    except ValueError:
        raise ConfigError(
            f"udp_ports must look like 40000-40999 (first-last), not {value!r}"
        ) from None
    if not 1 <= low <= high <= 65535:
        raise ConfigError(
            f"udp_ports: {low}-{high} is not a range of ports (1-65535, first <= last)"
        )
    return (low, high)


_TURN_URL = re.compile(r"turns?:(\[[0-9A-Fa-f:.]+\]|[^\s?:\[\]]+)(:\d+)?(\?transport=(udp|tcp))?")


def _parse_turn_urls(value: Any) -> tuple[str, ...]:
    """Comma-separated ``turn:``/``turns:`` URLs (``?transport=udp`` or ``tcp`` optional)."""
    urls = _parse_list(value)
    for url in urls:
        if not _TURN_URL.fullmatch(url):
            raise ConfigError(
                f"turn_urls: {url!r} is not a turn: or turns: URL "
                "(e.g. turn:turn.example.org:3478?transport=udp)"
            )
    return urls


def _parse_secret(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _parse_positive_int(value: Any) -> int:
    number = int(value)
    if number < 1:
        raise ValueError("must be at least 1")
    return number


def _parse_networks(value: Any) -> tuple[str, ...]:
    """Comma-separated addresses or CIDR networks, each normalised (``10.0.0.1`` → ``/32``)."""
    networks = []
    for item in _parse_list(value):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ConfigError(f"trusted_proxies: {item!r} is not an address or network") from None
    return tuple(networks)


def _parse_database_url(value: Any) -> str:
    """Plain ``postgresql://`` and ``sqlite:///`` URLs get their async drivers; anything else
    is refused here, in one line (never echoing the URL: it may hold a password)."""
    try:
        return normalise_url(str(value).strip())
    except DatabaseUrlError as exc:
        raise ConfigError(str(exc)) from None


def _parse_optional_days(value: Any) -> float | None:
    text = str(value).strip() if value is not None else ""
    if not text:
        return None
    days = float(text)
    if days < 1:
        raise ConfigError("attendance_retention_days: at least 1 day, or unset to keep")
    return days


def _parse_optional_secret(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    if text and len(text) < 16:
        raise ConfigError("metrics_token: use at least 16 characters")
    return text or None


def _parse_optional_path(value: Any) -> Path | None:
    text = str(value).strip() if value is not None else ""
    return Path(text) if text else None


@dataclasses.dataclass(frozen=True)
class Setting:
    """One row of the settings table."""

    name: str
    default: Any
    parse: Callable[[Any], Any]
    description: str

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("host", "127.0.0.1", str, "Address the HTTP server listens on."),
    Setting("port", 8080, int, "Port the HTTP server listens on."),
    Setting(
        "public_url",
        "",
        _parse_public_url,
        "The address people open (e.g. https://kohtaamo.example.fi): links that leave the "
        "server (feeds, cards, QR codes, command-line output) use it; staff cookies are Secure "
        "unless it is http://; WebSockets from pages of other origins are refused.",
    ),
    Setting(
        "database_url",
        "sqlite+aiosqlite:///var/kohtaamo.sqlite3",
        _parse_database_url,
        "Database URL: postgresql://USER@HOST/NAME or sqlite:///PATH (the embedded SQLite "
        "file by default); plain URLs get their async drivers (asyncpg, aiosqlite).",
    ),
    Setting("recordings_dir", "recordings", Path, "Folder where recorded sessions are written."),
    Setting(
        "recording_enabled",
        True,
        _parse_bool,
        "Whether hosts and broadcast tools may record broadcasts (false: 403 recording_disabled).",
    ),
    Setting(
        "chat_enabled",
        True,
        _parse_bool,
        "Whether session pages have a text chat (kept in memory only; false: chat_disabled).",
    ),
    Setting(
        "recording_retention_days",
        30.0,
        float,
        "Recordings older than this many days are deleted (at start-up and daily); 0 keeps them.",
    ),
    Setting(
        "attendance_retention_days",
        None,
        _parse_optional_days,
        "Attendance intervals of sessions older than this many days are deleted (at start-up "
        "and daily), reports keep their figures; unset: kept.",
    ),
    Setting(
        "ice_servers",
        (),
        _parse_ice_servers,
        "STUN/TURN servers for server and clients (JSON list or comma-separated URLs); "
        "none by default.",
    ),
    Setting(
        "ice_host_addresses",
        (),
        _parse_list,
        "Comma-separated addresses the server gathers ICE host candidates from; "
        "empty means every interface.",
    ),
    Setting(
        "udp_ports",
        None,
        _parse_port_range,
        "UDP ports the server's media uses, first-last (e.g. 40000-40999); any port if unset. "
        "When all are in use a new connection gets 503 media_ports_exhausted.",
    ),
    Setting(
        "turn_urls",
        (),
        _parse_turn_urls,
        "Comma-separated TURN URLs handed to clients with time-limited credentials "
        "(needs turn_secret), e.g. turn:turn.example.org:3478?transport=udp.",
    ),
    Setting(
        "turn_secret",
        None,
        _parse_secret,
        "Shared secret of the TURN server (coturn's static-auth-secret); never sent to anyone.",
    ),
    Setting(
        "turn_ttl",
        86400,
        _parse_positive_int,
        "Seconds a client's TURN credentials stay valid.",
    ),
    Setting("tls_cert", None, _parse_optional_path, "PEM certificate: serve https directly."),
    Setting("tls_key", None, _parse_optional_path, "PEM private key for tls_cert."),
    Setting(
        "video_codec",
        "H264",
        _parse_codec,
        "Video codec every publisher sends and every viewer receives (H264 or VP8).",
    ),
    Setting("max_sdp_bytes", 65536, int, "Largest SDP offer accepted, in bytes."),
    Setting(
        "body_read_timeout_seconds",
        10.0,
        float,
        "Longest time a request body may take to arrive in full (else 408 body_timeout).",
    ),
    Setting(
        "header_read_timeout_seconds",
        10.0,
        float,
        "Longest time a client may take to send a request's headers (else the connection closes).",
    ),
    Setting(
        "connect_timeout_seconds",
        15.0,
        float,
        "A WebRTC connection whose media has not started flowing this long after its offer is "
        "closed, and never counted.",
    ),
    Setting(
        "max_peers",
        0,
        _parse_limit,
        "Most WebRTC peer connections at once (else 503 server_busy); 0: what the open-file "
        "limit holds at about 5 descriptors a peer, with a margin.",
    ),
    Setting(
        "max_peers_per_address",
        20,
        _parse_limit,
        "Most WebRTC peer connections from one client address (else 429 rate_limited); 0: no cap.",
    ),
    Setting(
        "joins_per_address_per_minute",
        60,
        _parse_limit,
        "Joins (WHEP, WebSocket, /j/ pages) one client address may start per minute, after a "
        "burst of max_peers_per_address (else 429 rate_limited); 0: no limit.",
    ),
    Setting(
        "join_code_failures_per_minute",
        10,
        _parse_limit,
        "Wrong or unknown join codes one client address may try per minute (else 429 "
        "rate_limited); 0: no limit.",
    ),
    Setting(
        "group_max_participants",
        16,
        int,
        "Most participants in one interactive group session.",
    ),
    Setting(
        "attendance_heartbeat_seconds",
        10.0,
        float,
        "How often open attendance intervals are marked as still alive in the database.",
    ),
    Setting(
        "brief_visit_seconds",
        60.0,
        float,
        "An online participant connected for less than this in total is a brief visit, "
        "reported apart and not counted as a participant.",
    ),
    Setting(
        "doors_open_minutes",
        30.0,
        float,
        "Minutes before a session's start when people may connect (earlier: not_started).",
    ),
    Setting(
        "overrun_grace_minutes",
        60.0,
        float,
        "Minutes after a session's scheduled end when it closes if its host has not ended it.",
    ),
    Setting(
        "login_failures_before_backoff",
        5,
        _parse_positive_int,
        "Failed staff logins in a row for one name from one address before 429: a back-off of "
        "30 s, doubling to 15 min; an address alone, whatever the names, gets 4 times as many.",
    ),
    Setting(
        "trusted_proxies",
        (),
        _parse_networks,
        "Comma-separated addresses or CIDR networks of reverse proxies whose X-Forwarded-For "
        "names the client; none by default.",
    ),
    Setting(
        "password_hash_workers",
        1,
        _parse_positive_int,
        "Threads that hash and check staff passwords off the event loop; other logins queue.",
    ),
    Setting(
        "metrics_token",
        None,
        _parse_optional_secret,
        "Bearer token for GET /metrics from other machines (loopback needs none); unset: "
        "loopback only.",
    ),
    Setting(
        "accessibility_contact",
        "",
        str,
        "E-mail address for accessibility and privacy feedback, shown on the accessibility "
        "statement and the privacy notice (the Act on Digital Services 306/2019 requires one).",
    ),
    Setting("log_level", "INFO", _parse_log_level, "Python logging level."),
    Setting(
        "log_client_addresses",
        False,
        _parse_bool,
        "Write client IP addresses to the log, for an investigation only (off: every address "
        "is replaced by [address]; docs/operations.md says how long such lines are kept).",
    ),
    Setting(
        "demo_feed",
        False,
        _parse_bool,
        "Feed a test card into live public broadcasts while they have no publisher (demo).",
    ),
)

SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}


@dataclasses.dataclass(frozen=True)
class Settings:
    """The server's configuration; build with :func:`load_settings` or directly in tests."""

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    database_url: str = "sqlite+aiosqlite:///var/kohtaamo.sqlite3"
    recordings_dir: Path = Path("recordings")
    recording_enabled: bool = True
    chat_enabled: bool = True
    recording_retention_days: float = 30.0
    attendance_retention_days: float | None = None
    ice_servers: tuple[IceServer, ...] = ()
    ice_host_addresses: tuple[str, ...] = ()
    udp_ports: tuple[int, int] | None = None
    turn_urls: tuple[str, ...] = ()
    #: Kept out of ``repr`` so that it cannot reach a log by accident.
    turn_secret: str | None = dataclasses.field(default=None, repr=False)
    turn_ttl: int = 86400
    tls_cert: Path | None = None
    tls_key: Path | None = None
    video_codec: str = "H264"
    max_sdp_bytes: int = 65536
    body_read_timeout_seconds: float = 10.0
    header_read_timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 15.0
    max_peers: int = 0
    max_peers_per_address: int = 20
    joins_per_address_per_minute: int = 60
    join_code_failures_per_minute: int = 10
    group_max_participants: int = 16
    attendance_heartbeat_seconds: float = 10.0
    brief_visit_seconds: float = 60.0
    doors_open_minutes: float = 30.0
    overrun_grace_minutes: float = 60.0
    login_failures_before_backoff: int = 5
    trusted_proxies: tuple[str, ...] = ()
    password_hash_workers: int = 1
    metrics_token: str | None = None
    accessibility_contact: str = ""
    log_level: str = "INFO"
    log_client_addresses: bool = False
    demo_feed: bool = False

    @property
    def door_times(self) -> DoorTimes:
        """When people may connect to a session (see :class:`~stream_server.basics.DoorTimes`)."""
        return DoorTimes(
            dt.timedelta(minutes=self.doors_open_minutes),
            dt.timedelta(minutes=self.overrun_grace_minutes),
        )

    @property
    def public_origin(self) -> str | None:
        """``scheme://host[:port]`` of :attr:`public_url`, if it is set."""
        if not self.public_url:
            return None
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}".lower()

    @property
    def cli_base_url(self) -> str:
        """Where links printed by the command line point: :attr:`public_url`, or else
        ``http://HOST:PORT`` of the settings (a wildcard host as 127.0.0.1). The server
        itself uses the request's own origin instead (``web.rendering.base_url``)."""
        if self.public_url:
            return self.public_url
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def secure_cookies(self) -> bool:
        """Staff cookies are ``Secure`` unless the configured address is plain http://.

        Decided by configuration, never by the request's ``Host`` header (which a client or
        a proxy that does not forward it would decide instead).
        """
        return not self.public_url.startswith("http://")

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def load_settings(
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build :class:`Settings` from defaults, a TOML file, the environment and overrides."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {s.name: s.default for s in SETTINGS}
    path = config_file or environ.get(ENV_PREFIX + "CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        table = data.get("kohtaamo", data)
        for key, value in table.items():
            if key not in SETTINGS_BY_NAME:
                raise ConfigError(f"unknown setting {key!r} in {path}")
            values[key] = value
    for setting in SETTINGS:
        if setting.env_var in environ:
            values[setting.name] = environ[setting.env_var]
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    parsed: dict[str, Any] = {}
    for setting in SETTINGS:
        value = values[setting.name]
        try:
            parsed[setting.name] = value if value is None else setting.parse(value)
        except ConfigError:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{setting.name}: invalid value {value!r}: {exc}") from exc
    if (parsed["tls_cert"] is None) != (parsed["tls_key"] is None):
        raise ConfigError("tls_cert and tls_key must be set together")
    if parsed["turn_urls"] and not parsed["turn_secret"]:
        raise ConfigError("turn_urls needs turn_secret (the TURN server's static-auth-secret)")
    if parsed["turn_secret"] and not parsed["turn_urls"]:
        raise ConfigError("turn_secret is set but turn_urls is empty: no client would use it")
    return Settings(**parsed)
