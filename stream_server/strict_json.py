"""Decoding JSON from strangers: bounded nesting, short numbers, valid Unicode.

Python's ``json.loads`` accepts things that later blow up far from the request: nesting
8,000 deep (``RecursionError``), integers with more than 4,300 digits (a plain
``ValueError`` from the int conversion limit), lone surrogates such as ``"\\ud800"`` (a
``str`` that cannot be encoded, so the database or the log fails), ``NaN`` and
``Infinity``. Every JSON body and every signaling message goes through :func:`loads`, which
refuses all of them with one exception, :class:`JsonRefused`, whose message says why.
"""

from __future__ import annotations

import json
import math
from typing import Any

#: Deeper than any message or body of ours (the deepest is 3); far below Python's limit.
MAX_DEPTH = 16
#: Longest integer or float literal accepted, in characters.
MAX_NUMBER_CHARS = 40


class JsonRefused(ValueError):
    """The text is not JSON we accept; the message says what is wrong."""


def _number(text: str) -> Any:
    if len(text) > MAX_NUMBER_CHARS:
        raise JsonRefused(f"a number is longer than {MAX_NUMBER_CHARS} characters")
    if text.lstrip("-").isdigit():
        return int(text)
    number = float(text)
    if not math.isfinite(number):
        raise JsonRefused(f"{text[:20]} is out of range")
    return number


def _constant(name: str) -> Any:
    raise JsonRefused(f"{name} is not a JSON number")


def _check_depth(text: str, limit: int) -> None:
    """Refuse nesting deeper than ``limit`` before the parser recurses into it."""
    depth = 0
    in_string = False
    escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                raise JsonRefused(f"nesting is deeper than {limit} levels")
        elif char in "]}":
            depth -= 1


def _check_strings(value: Any) -> None:
    """Every string (and key) must be encodable: no lone surrogates."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise JsonRefused("a string holds a lone surrogate (invalid Unicode)") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def loads(raw: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Decode ``raw`` (UTF-8 if bytes) or raise :class:`JsonRefused`."""
    if isinstance(raw, (bytes, bytearray)):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise JsonRefused("the body is not valid UTF-8") from None
    else:
        text = raw
    _check_depth(text, max_depth)
    try:
        value = json.loads(text, parse_int=_number, parse_float=_number, parse_constant=_constant)
    except JsonRefused:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise JsonRefused(str(exc)[:200] or "not valid JSON") from None
    _check_strings(value)
    return value
