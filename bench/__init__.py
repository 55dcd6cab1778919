"""Benchmarks that run real processes over loopback (see ``python -m bench.forwarding``)."""
