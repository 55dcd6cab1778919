"""Attendance: intervals of online participants and room devices, per session."""
