"""Spans and segments on Postgres range fields, with invariants enforced by the database."""
