"""Log lines that a request cannot forge.

Logged values come from requests (a path, a name typed on the login form, an error message
that quotes an SDP line). A newline in one of them starts what looks like a new log line;
``\\r``, NUL and ANSI escapes garble a terminal or a log viewer. :class:`SafeFormatter`
escapes every control character in the formatted message (``\\n`` becomes the two
characters ``\\`` ``n``), so one record is always one line; tracebacks keep their line
breaks but lose every other control character.
"""

from __future__ import annotations

import logging
import re

#: C0 controls, DEL, C1 controls, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control character written as an escape (one line, printable)."""
    return _CONTROL.sub(_escape, text)


def _escape_keeping_newlines(text: str) -> str:
    return "\n".join(escape_controls(line) for line in text.split("\n"))


class SafeFormatter(logging.Formatter):
    """A formatter whose message part is always one line of printable text."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record))

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        return _escape_keeping_newlines(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _escape_keeping_newlines(super().formatStack(stack_info))
