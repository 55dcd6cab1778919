"""Settings: defaults, a TOML file, KOHTAAMO_* variables (their documentation is compared with
the declaration row by row in tests/test_docs.py)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from stream_server.config import (
    SETTINGS,
    ConfigError,
    IceServer,
    Settings,
    load_settings,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kohtaamo.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file_or_environment() -> None:
    settings = load_settings(environ={})
    assert settings == Settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.database_url == "sqlite+aiosqlite:///var/kohtaamo.sqlite3"
    assert settings.ice_servers == ()
    assert settings.ice_host_addresses == ()
    assert settings.video_codec == "H264"
    assert settings.tls_cert is None and settings.tls_key is None


def test_the_settings_table_and_the_settings_class_agree() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(Settings)}
    assert [s.name for s in SETTINGS] == list(fields)
    for setting in SETTINGS:
        parsed = None if setting.default is None else setting.parse(setting.default)
        assert parsed == fields[setting.name], setting.name
        assert setting.description.strip(), setting.name
        assert setting.env_var == "KOHTAAMO_" + setting.name.upper()


def test_a_toml_file_with_top_level_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        host = "0.0.0.0"
        port = 9000
        video_codec = "vp8"
        ice_host_addresses = ["10.0.0.5", "192.168.1.20"]
        recordings_dir = "/srv/kohtaamo/recordings"
        group_max_participants = 8
        attendance_heartbeat_seconds = 5
        """,
    )
    settings = load_settings(path, environ={})
    assert settings.host == "0.0.0.0"
    assert settings.port == 9000
    assert settings.video_codec == "VP8"
    assert settings.ice_host_addresses == ("10.0.0.5", "192.168.1.20")
    assert settings.recordings_dir == Path("/srv/kohtaamo/recordings")
    assert settings.group_max_participants == 8
    assert settings.attendance_heartbeat_seconds == 5.0
    assert settings.database_url == Settings().database_url  # untouched keys keep defaults


def test_a_toml_file_with_a_kohtaamo_table(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [kohtaamo]
        port = 8443
        database_url = "postgresql+asyncpg://kohtaamo@db/kohtaamo"

        [[kohtaamo.ice_servers]]
        urls = "turn:turn.kuopio.example:3478"
        username = "kirjasto"
        credential = "salainen"

        [[kohtaamo.ice_servers]]
        urls = "stun:stun.kuopio.example:3478"
        """,
    )
    settings = load_settings(path, environ={})
    assert settings.port == 8443
    assert settings.database_url == "postgresql+asyncpg://kohtaamo@db/kohtaamo"
    assert settings.ice_servers == (
        IceServer("turn:turn.kuopio.example:3478", "kirjasto", "salainen"),
        IceServer("stun:stun.kuopio.example:3478"),
    )


def test_the_file_can_be_named_by_kohtaamo_config(tmp_path: Path) -> None:
    path = write(tmp_path, "port = 9001\n")
    assert load_settings(environ={"KOHTAAMO_CONFIG": str(path)}).port == 9001


def test_environment_overrides_the_file_and_overrides_win(tmp_path: Path) -> None:
    path = write(tmp_path, 'port = 9000\nhost = "0.0.0.0"\nvideo_codec = "VP8"\n')
    environ = {"KOHTAAMO_PORT": "9100", "KOHTAAMO_VIDEO_CODEC": "h264"}
    settings = load_settings(path, environ=environ)
    assert (settings.port, settings.host, settings.video_codec) == (9100, "0.0.0.0", "H264")
    settings = load_settings(path, environ=environ, overrides={"port": 9200, "host": None})
    assert (settings.port, settings.host) == (9200, "0.0.0.0")


def test_ice_servers_as_a_json_list() -> None:
    value = json.dumps(
        [
            {"urls": "turn:turn.kuopio.example:3478", "username": "u", "credential": "p"},
            "stun:stun.kuopio.example:3478",
        ]
    )
    settings = load_settings(environ={"KOHTAAMO_ICE_SERVERS": value})
    assert settings.ice_servers == (
        IceServer("turn:turn.kuopio.example:3478", "u", "p"),
        IceServer("stun:stun.kuopio.example:3478"),
    )
    assert [s.as_dict() for s in settings.ice_servers] == [
        {"urls": "turn:turn.kuopio.example:3478", "username": "u", "credential": "p"},
        {"urls": "stun:stun.kuopio.example:3478"},
    ]


def test_ice_servers_as_comma_separated_urls() -> None:
    value = "stun:stun1.example.org:3478, stun:stun2.example.org:19302"
    settings = load_settings(environ={"KOHTAAMO_ICE_SERVERS": value})
    assert settings.ice_servers == (
        IceServer("stun:stun1.example.org:3478"),
        IceServer("stun:stun2.example.org:19302"),
    )
    assert load_settings(environ={"KOHTAAMO_ICE_SERVERS": ""}).ice_servers == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("https://stun.example.org", "is not a stun:/turn: URL"),
        ('[{"urls": "http://turn.example.org"}]', "is not a stun:/turn: URL"),
        ('[{"username": "u"}]', "each entry needs 'urls'"),
        ("[not json", "invalid JSON"),
    ],
)
def test_bad_ice_servers_are_refused(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match="ice_servers") as excinfo:
        load_settings(environ={"KOHTAAMO_ICE_SERVERS": value})
    assert message in str(excinfo.value)


def test_ice_host_addresses_as_a_comma_list() -> None:
    environ = {"KOHTAAMO_ICE_HOST_ADDRESSES": " 127.0.0.1, 192.168.10.4 ,,"}
    assert load_settings(environ=environ).ice_host_addresses == ("127.0.0.1", "192.168.10.4")
    environ = {"KOHTAAMO_ICE_HOST_ADDRESSES": ""}
    assert load_settings(environ=environ).ice_host_addresses == ()


@pytest.mark.parametrize(("value", "codec"), [("h264", "H264"), (" VP8 ", "VP8"), ("vp8", "VP8")])
def test_video_codec_is_h264_or_vp8(value: str, codec: str) -> None:
    assert load_settings(environ={"KOHTAAMO_VIDEO_CODEC": value}).video_codec == codec


@pytest.mark.parametrize("value", ["AV1", "VP9", ""])
def test_other_video_codecs_are_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="video_codec must be H264 or VP8"):
        load_settings(environ={"KOHTAAMO_VIDEO_CODEC": value})


def test_tls_needs_both_certificate_and_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tls_cert and tls_key must be set together"):
        load_settings(environ={"KOHTAAMO_TLS_CERT": "/etc/kohtaamo/cert.pem"})
    with pytest.raises(ConfigError, match="tls_cert and tls_key must be set together"):
        load_settings(write(tmp_path, 'tls_key = "key.pem"\n'), environ={})
    settings = load_settings(
        environ={"KOHTAAMO_TLS_CERT": "cert.pem", "KOHTAAMO_TLS_KEY": "key.pem"}
    )
    assert (settings.tls_cert, settings.tls_key) == (Path("cert.pem"), Path("key.pem"))


def test_an_unknown_key_in_the_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown setting 'prot'"):
        load_settings(write(tmp_path, "prot = 9000\n"), environ={})
    with pytest.raises(ConfigError, match="unknown setting 'hots'"):
        load_settings(write(tmp_path, '[kohtaamo]\nhots = "x"\n'), environ={})


def test_a_malformed_value_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^port: invalid value 'eighty'"):
        load_settings(environ={"KOHTAAMO_PORT": "eighty"})
    with pytest.raises(ConfigError, match="attendance_heartbeat_seconds"):
        load_settings(write(tmp_path, 'attendance_heartbeat_seconds = "often"\n'), environ={})


def test_an_unreadable_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "missing.toml", environ={})
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(write(tmp_path, "port = = 1\n"), environ={})
