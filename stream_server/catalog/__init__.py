"""The domain: areas, venues, rooms, organisers and sessions, and who may do what."""
