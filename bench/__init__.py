"""Benchmarks of django-segments: ``python -m bench`` (``make bench``).

Each area (``ranges``, ``bulk``, ``membership``, ``conditions``, ``memory``) measures the
library next to a hand-written SQL baseline on the same tables, in the same run, and
reports ratios. The process configures Django itself (`bench.settings`), creates a
fresh database on the server (embedded PostgreSQL 18 unless ``DATABASE_URL`` is set),
migrates it, runs the areas, prints a table and writes ``bench/results.json``.
See docs/benchmarks.md.
"""
