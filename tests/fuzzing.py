"""Hypothesis strategies and budgets for the fuzz suite (tests/test_fuzz.py).

The app is asynchronous and its fixtures live on pytest-asyncio's loop, where Hypothesis's
``@given`` cannot run a coroutine test. So Hypothesis *draws* the cases (its strategies,
its edge cases: empty, huge, nested, odd Unicode) and the async test sends each one; a
failing case is reported with the input that broke it.

Budgets: every test asks :func:`budget` for its number of cases. CI runs the base budget
(a few hundred cases in all, well under a minute); ``make fuzz`` multiplies it
(``KOHTAAMO_FUZZ_SCALE``, 25 by default there) and ``KOHTAAMO_FUZZ_SEED`` picks another seed.
The totals are printed at the end of the test run (see ``pytest_terminal_summary`` in
tests/conftest.py).
"""

from __future__ import annotations

import collections
import json
import os
from typing import Any

import hypothesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

#: Cases run per fuzz target in this test run (printed in the terminal summary).
CASES: collections.Counter[str] = collections.Counter()


def scale() -> float:
    return float(os.environ.get("KOHTAAMO_FUZZ_SCALE", "1"))


def budget(base: int) -> int:
    return max(1, round(base * scale()))


def seed() -> int:
    return int(os.environ.get("KOHTAAMO_FUZZ_SEED", "20261203"))


def draw(strategy: st.SearchStrategy[Any], count: int, name: str | None = None) -> list[Any]:
    """Up to ``count`` cases drawn by Hypothesis (reproducible: a fixed seed unless told);
    fewer when the strategy has fewer distinct values. Counted under ``name`` if given."""
    drawn: list[Any] = []

    @hypothesis.seed(seed())
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: Any) -> None:
        drawn.append(value)

    collect()
    cases = drawn[:count]
    if name is not None:
        CASES[name] += len(cases)
    return cases


# -- JSON ---------------------------------------------------------------------------------------
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=16,
)
#: Keys our JSON bodies and messages read, so that cases get past the first check.
KNOWN_KEYS = (
    "score",
    "channel",
    "attendee_key",
    "venue",
    "count",
    "on",
    "population",
    "state",
    "session_id",
    "detail",
    "type",
    "session",
    "code",
    "role",
    "token",
    "device_token",
    "tier",
    "sdp",
    "tracks",
    "audio",
    "video",
    "participant",
    "action",
    "text",
    "id",
)
FIELD_VALUES = (
    SCALARS
    | st.sampled_from(
        [
            "browser",
            "tablet",
            "kiosk",
            "presenter",
            "host",
            "kantti",
            "playing",
            "video",
            "audio",
            "remove",
            "k" * 24,
            "\u202e",
            "x" * 70,
        ]
    )
    | st.lists(st.sampled_from(["video", "screen", "audio", "x", ""]), max_size=4)
)
SHAPED_OBJECTS = st.dictionaries(st.sampled_from(KNOWN_KEYS), FIELD_VALUES, max_size=6)
#: Bodies that Python's json module mishandles (each was a 500 once).
NASTY_BODIES = st.sampled_from(
    [
        b"[" * 3000 + b"]" * 3000,
        b'{"score": ' + b"9" * 5000 + b"}",
        b'{"score": 1e999}',
        b'{"score": NaN}',
        b'{"attendee_key": "\\ud800kkkkkkkkkkkkkkkkkkkk", "score": 3}',
        b'{"venue": "\\udfff", "count": 1}',
        b"\xff\xfe{}",
        b"",
        b"null",
        b'"text"',
        b"{" * 20 + b"}" * 20,
    ]
)


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


JSON_BODIES = (
    st.one_of(JSON_VALUES, SHAPED_OBJECTS).map(json_bytes) | NASTY_BODIES | st.binary(max_size=200)
)
CONTENT_TYPES = st.sampled_from(
    ["application/json"] * 6 + ["text/plain", "", "application/json; charset=latin-1"]
)

# -- forms ---------------------------------------------------------------------------------------
FORM_TEXT = st.text(max_size=30) | st.sampled_from(["²", "٣٤", "1" * 30, "-1", "/\t/evil"])
FORM_FIELDS = st.lists(
    st.tuples(
        st.sampled_from(
            ["name", "password", "next", "venue", "room", "kind", "csrf_token", "population-north"]
        )
        | st.text(max_size=10),
        FORM_TEXT,
    ),
    max_size=6,
)
FORM_RAW = st.binary(max_size=200) | st.sampled_from(
    [
        b"name=\xff\xfe&password=x",
        b"--b\r\nnonsense\r\n--b--\r\n",
        b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\n\xff\r\n--b--\r\n',
    ]
)
FORM_CONTENT_TYPES = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "multipart/form-data; boundary=b",
        "application/x-www-form-urlencoded; charset=nope",
        "text/plain",
    ]
)

# -- signaling messages --------------------------------------------------------------------------
MESSAGE_TYPES = (
    "join",
    "answer",
    "publish",
    "unpublish",
    "mute",
    "tier",
    "moderate",
    "record",
    "chat",
    "chat-delete",
    "ping",
    "leave",
    "end",
)
#: Well-formed messages with odd values: these reach a joined member's handlers.
WELL_FORMED = st.one_of(
    st.builds(
        lambda tracks: {"type": "publish", "tracks": tracks},
        st.lists(st.sampled_from(["video", "screen", "audio"]), min_size=1, max_size=3),
    ),
    st.builds(
        lambda tracks: {"type": "unpublish", "tracks": tracks},
        st.lists(st.sampled_from(["video", "screen", "audio"]), min_size=1, max_size=3),
    ),
    st.builds(lambda a, v: {"type": "mute", "audio": a, "video": v}, st.booleans(), st.booleans()),
    st.builds(lambda t: {"type": "tier", "tier": t}, st.sampled_from(["high", "low", "audio"])),
    st.builds(
        lambda p, a: {"type": "moderate", "participant": p, "action": a},
        st.integers(-5, 10**20),
        st.sampled_from(["mute-audio", "mute-video", "remove"]),
    ),
    st.builds(lambda on: {"type": "record", "on": on}, st.booleans()),
    st.builds(lambda text: {"type": "chat", "text": text}, st.text(max_size=600)),
    st.builds(lambda n: {"type": "chat-delete", "id": n}, st.integers(-5, 10**20)),
    st.builds(lambda sdp: {"type": "answer", "sdp": sdp}, st.text(max_size=200)),
    st.builds(
        lambda s: {"type": "join", "session": s, "attendee_key": "j" * 20},
        st.text(min_size=1, max_size=20),
    ),
    st.just({"type": "end"}),
).map(lambda m: json.dumps(m, ensure_ascii=False))
MESSAGES = (
    WELL_FORMED
    | WELL_FORMED
    | st.builds(
        lambda kind, fields: {**fields, "type": kind},
        st.sampled_from(MESSAGE_TYPES) | st.text(max_size=12),
        SHAPED_OBJECTS,
    ).map(lambda m: json.dumps(m, ensure_ascii=False))
    | JSON_VALUES.map(json.dumps)
    | st.sampled_from(
        [
            "[" * 5000 + "]" * 5000,
            '{"type": "ping", "n": ' + "1" * 5000 + "}",
            '{"type": "chat", "text": "\\ud800"}',
            '{"type": "moderate", "participant": 1e400, "action": "remove"}',
        ]
    )
    | st.text(max_size=100)
)

# -- SDP -----------------------------------------------------------------------------------------
LINE_EDITS = st.lists(
    st.tuples(
        st.sampled_from(["drop", "copy", "cut", "insert", "swap", "field"]),
        st.integers(min_value=0, max_value=10_000),
        st.integers(min_value=0, max_value=10_000),
        st.sampled_from(["", "0", "-1", "x", "99999999999", " ", "\x00", ":", "a=", "ä", "/"]),
    ),
    min_size=1,
    max_size=4,
)


def mutate_sdp(offer: str, edits: list[tuple[str, int, int, str]]) -> str:
    """An offer with its lines dropped, copied, cut, swapped or garbled."""
    lines = offer.split("\r\n")
    for op, i, j, text in edits:
        if not lines:
            lines = ["v=0"]
        i %= len(lines)
        line = lines[i]
        if op == "drop":
            del lines[i]
        elif op == "copy":
            lines.insert(i, lines[j % len(lines)])
        elif op == "cut":
            lines[i] = line[: j % (len(line) + 1)]
        elif op == "insert":
            k = j % (len(line) + 1)
            lines[i] = line[:k] + text + line[k:]
        elif op == "swap":
            k = j % len(lines)
            lines[i], lines[k] = lines[k], line
        else:
            parts = line.split(" ")
            parts[j % len(parts)] = text
            lines[i] = " ".join(parts)
    return "\r\n".join(lines)
