"""Regenerate the checked-in DDL under ``sql/`` (``make sql``).

``sql/testapp_schema.sql`` is the SQL of the test app's migrations, one after the other,
as ``sqlmigrate`` prints them: every table, constraint, index and trigger the ranges
library generates for the five test models, and how each later migration changes them.
Reviewers read schema changes in it; ``tests/test_ranges_ddl.py`` fails when it no longer
matches the migrations.

Run: ``.venv/bin/python -m tests.generate_sql`` (starts an embedded Postgres unless
``DATABASE_URL`` is set; ``sqlmigrate`` needs a connection but changes nothing).
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "sql" / "testapp_schema.sql"
#: A default Django computes when it renders the SQL (``auto_now_add`` on a new column).
_NOW = re.compile(r"'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\+00:00'::timestamptz")
HEADER = (
    "-- DDL of the migrations in tests/testapp/migrations/, in order, written by `make sql`\n"
    "-- (tests/generate_sql.py). Do not edit: tests/test_ranges_ddl.py checks it.\n"
)


def render_testapp_schema() -> str:
    """The DDL of every migration of the test app, in order, in a deterministic form (no
    trailing spaces)."""
    from django.core.management import call_command
    from django.db.migrations.loader import MigrationLoader

    names = sorted(
        name
        for app, name in MigrationLoader(None, ignore_no_migrations=True).disk_migrations
        if app == "testapp"
    )
    parts = [HEADER]
    for name in names:
        out = io.StringIO()
        call_command("sqlmigrate", "testapp", name, stdout=out, no_color=True)
        text = _NOW.sub("'<the time of migrate>'::timestamptz", out.getvalue())
        lines = [line.rstrip() for line in text.strip().splitlines()]
        parts.append(f"\n-- ==== testapp {name} ====\n" + "\n".join(lines) + "\n")
    return "".join(parts)


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
