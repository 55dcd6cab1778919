"""Live sessions: who is connected, what flows between them, and what they are told.

``registry`` owns one :class:`~stream_server.live.session.LiveSession` per running session;
every kind of connection is a :class:`~stream_server.live.client.Client` of it (WHIP
publisher, WHEP viewer, WebSocket member, recorder, test card). See docs/architecture.md.
"""
