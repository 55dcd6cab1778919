"""The server's log: one format, and no IP addresses in it unless asked for.

docs/privacy.md promises that client addresses never reach the log. Kohtaamo's own log lines name
sessions, participants by number, devices by id and staff by name, never an address; but
libraries do write addresses (aiohttp's "Error handling request from ADDRESS", aioice's
candidate pairs, an OSError's text). So every line — message and traceback — goes through
:class:`AddressRedactingFormatter`, which replaces each IPv4 and IPv6 address with
``[address]``.

``log_client_addresses = true`` turns this off for an investigation (the access log and the
login and protocol-error lines then carry the address too); ``docs/operations.md`` says how
long such lines are kept and when to turn it off again.
"""

from __future__ import annotations

import ipaddress
import logging
import re

from stream_server.log_safety import SafeFormatter

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "[address]"

# Candidates only; each is checked with ipaddress before it is replaced, so times ("09:51:12"),
# version numbers and MAC addresses stay as they are.
_IPV4_CORE = r"(?:\d{1,3}\.){3}\d{1,3}"
# Not inside a longer dotted number (1.2.3.4.5), but a full stop may end the sentence.
_IPV4 = rf"(?<!\w)(?<!\d\.){_IPV4_CORE}(?!\w|\.\d)"
# An IPv4 tail (::ffff:192.0.2.1) is tried before a hex group, so it is taken whole.
_IPV6 = (
    rf"(?<![\w:.])(?:[0-9A-Fa-f]{{0,4}}:){{2,7}}"
    rf"(?:{_IPV4_CORE}|[0-9A-Fa-f]{{0,4}})(?:%\w+)?(?![\w:])"
)
_CANDIDATE = re.compile(f"{_IPV6}|{_IPV4}")


def _replace(match: re.Match[str]) -> str:
    text = match.group(0)
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return text
    return REDACTED


def redact_addresses(text: str) -> str:
    """``text`` with every IPv4 and IPv6 address replaced by ``[address]``."""
    if "." not in text and ":" not in text:
        return text
    return _CANDIDATE.sub(_replace, text)


class AddressRedactingFormatter(SafeFormatter):
    """A formatter whose output (message, arguments, traceback) holds no IP address."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_addresses(super().format(record))


def configure_logging(level: str, client_addresses: bool = False) -> None:
    """The root logger writes to stderr (journald under systemd), addresses redacted unless
    ``client_addresses``. Like :func:`logging.basicConfig`, it leaves a logging set up by
    someone else (a test runner, a program embedding the server) as it is."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "kohtaamo", False)]
    if root.handlers and not ours:
        return
    for old in ours:
        root.removeHandler(old)
    handler = logging.StreamHandler()
    handler.kohtaamo = True  # type: ignore[attr-defined]
    formatter = SafeFormatter(FORMAT) if client_addresses else AddressRedactingFormatter(FORMAT)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("aioice").setLevel(logging.WARNING)
    logging.getLogger("aiortc").setLevel(logging.WARNING)
