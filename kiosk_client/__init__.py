"""The kiosk device agent (joins the session scheduled for its room). Not built yet: see the
kiosk issue. The package exists so the distribution's layout is final."""
