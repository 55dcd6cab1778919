"""WebRTC media: peer connections, SDP checks and the forwarding core (never imports the web)."""
