"""Kohtaamo's server: WebRTC forwarding, WHIP/WHEP, signaling, attendance, pages."""

__version__ = "0.1.0"
