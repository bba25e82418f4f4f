"""Reliability suite: concurrency, faults, bad input and fuzzing (``make stress`` runs it long)."""
