"""The WebSocket signaling protocol: message validation and limits (no aiohttp, no aiortc)."""
