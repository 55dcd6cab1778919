"""HTTP handlers: WHIP/WHEP, the JSON API and the pages (the only layer that imports aiohttp)."""
