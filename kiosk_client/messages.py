"""The few texts the agent puts in front of people (on the picture), Finnish first.

The same wording as the server's pages (``stream_server.i18n``), copied rather than imported:
a room PC installs and runs only the client.
"""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "recording.on": {"fi": "● Tallennetaan", "en": "● Recording"},
}


def text(key: str, language: str = "fi") -> str:
    """The message in ``language``, falling back to Finnish."""
    entry = MESSAGES[key]
    return entry.get(language, entry["fi"])
