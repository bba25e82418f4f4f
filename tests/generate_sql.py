"""Regenerate the checked-in DDL under ``sql/`` (``make sql``).

``sql/testapp_schema.sql`` is the SQL of the test app's migration, as ``sqlmigrate``
prints it: every table, constraint, index and trigger the ranges library generates for
the five test models. Reviewers read schema changes in it; ``tests/test_ranges_ddl.py``
fails when it no longer matches the migration.

Run: ``.venv/bin/python -m tests.generate_sql`` (starts an embedded Postgres unless
``DATABASE_URL`` is set; ``sqlmigrate`` needs a connection but changes nothing).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "sql" / "testapp_schema.sql"
HEADER = (
    "-- DDL of tests/testapp/migrations/0001_initial.py, written by `make sql`\n"
    "-- (tests/generate_sql.py). Do not edit: tests/test_ranges_ddl.py checks it.\n\n"
)


def render_testapp_schema() -> str:
    """The DDL of migration testapp 0001 in a deterministic form (no trailing spaces)."""
    from django.core.management import call_command

    out = io.StringIO()
    call_command("sqlmigrate", "testapp", "0001", stdout=out, no_color=True)
    lines = [line.rstrip() for line in out.getvalue().strip().splitlines()]
    return HEADER + "\n".join(lines) + "\n"


def main() -> None:
    """Write every generated SQL file and say which ones changed."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    text = render_testapp_schema()
    SCHEMA_FILE.parent.mkdir(exist_ok=True)
    old = SCHEMA_FILE.read_text() if SCHEMA_FILE.exists() else None
    SCHEMA_FILE.write_text(text)
    state = "unchanged" if old == text else "written"
    print(f"{SCHEMA_FILE.relative_to(ROOT)}: {state}")


if __name__ == "__main__":
    main()
