"""The room PC's agent (``kohtaamo-kiosk``): joins the sessions held in or shown in its room
at their scheduled time, publishes (WHIP) or plays (WHEP), reconnects, reports heartbeats and
headcounts. Self-contained: it never imports ``stream_server``, so room PCs install only this."""
