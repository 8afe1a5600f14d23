"""Benchmarks (``make bench``); never part of ``make test``. See docs/PERFORMANCE.md."""
