"""The benchmark database: create it, start Django on it, run checked-in SQL."""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from django_segments.testing import database_url

#: Checked-in statements of the benchmarks (``-- name: <section>`` blocks).
SQL_DIR = Path(__file__).resolve().parent.parent / "sql" / "bench"
_SECTION = re.compile(r"^-- name: (\S+)\s*$", re.MULTILINE)


def bench_database() -> str:
    """Name of the benchmark database (``SEGMENTS_BENCH_DB``, default ``segments_bench``)."""
    return os.environ.get("SEGMENTS_BENCH_DB", "segments_bench")


def create_database(name: str) -> str:
    """Drop and create database ``name`` on the server of `database_url`; return the URL."""
    url = database_url()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return url


def drop_database(name: str) -> None:
    """Drop database ``name`` (after Django's connections are closed)."""
    with psycopg.connect(database_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def setup_django() -> None:
    """Configure Django with `bench.settings` and migrate the fresh database."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    create_reader()


#: Tables the exec login may read (the member tables; nothing of the library's).
READER_TABLES = ("auth_user", "memberapp_intmember", "memberapp_uuidmember")


def create_reader() -> None:
    """The exec connection's login (``settings.READER``): no superuser, SELECT on
    `READER_TABLES` only. A role belongs to the server: created once, granted per database."""
    from django.conf import settings
    from django.db import connection

    role = sql.Identifier(settings.READER)
    with psycopg.connect(database_url(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [settings.READER]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(role))
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role).as_string())
        tables = sql.SQL(", ").join(sql.Identifier(name) for name in READER_TABLES)
        cursor.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(tables, role).as_string())


@cache
def sections(filename: str) -> dict[str, list[str]]:
    """Statements of ``sql/bench/<filename>`` by section name, comments removed."""
    text = (SQL_DIR / filename).read_text()
    parts = _SECTION.split(text)
    result: dict[str, list[str]] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = [line for line in body.splitlines() if not line.lstrip().startswith("--")]
        statements = [s.strip() for s in "\n".join(lines).split(";")]
        result[name] = [s for s in statements if s]
    return result


def statements(filename: str, name: str, **names: str) -> list[str]:
    """One section's statements with ``{placeholders}`` filled by quoted SQL ``names``."""
    return [s.format(**names) for s in sections(filename)[name]]


def statement(filename: str, name: str, **names: str) -> str:
    """The single statement of a section."""
    (only,) = statements(filename, name, **names)
    return only


def execute(cursor: Any, sql_text: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run ``sql_text``; return its rows (empty for statements without a result)."""
    cursor.execute(sql_text, params)
    return cursor.fetchall() if cursor.description else []
