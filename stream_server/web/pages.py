"""HTML pages: the join page, the presenter page (filled in by the pages work)."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Register templates and page routes on ``app``."""
