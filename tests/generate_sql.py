"""Regenerate the checked-in SQL under ``sql/`` (``make sql``).

``sql/testapp_schema.sql`` is the SQL of the test app's migrations, one after the other,
as ``sqlmigrate`` prints them: every table, constraint, index and trigger the ranges
library generates for the five test models, and how each later migration changes them.
``sql/testapp_operations.sql`` is every statement the range operations send for those
models, as `django_segments.ranges.compiler` renders them. Reviewers read changes in
both; ``tests/test_ranges_ddl.py`` fails when either no longer matches the code.

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
OPERATIONS_FILE = ROOT / "sql" / "testapp_operations.sql"
#: A default Django computes when it renders the SQL (``auto_now_add`` on a new column);
#: not the fixed limits of the range checks (years 1 and 9999).
_NOW = re.compile(r"'(?!0001-|9999-)\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\+00:00'::timestamptz")
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


def render_testapp_operations() -> str:
    """The operation statements of every concrete segment model of the test app."""
    from django.apps import apps

    from django_segments.ranges.compiler import render_model
    from django_segments.ranges.models import AbstractSegment

    header = (
        "-- Statements of the range operations for the models of tests/testapp, written by\n"
        "-- `make sql` (tests/generate_sql.py) from django_segments/ranges/sql/operations.sql.\n"
        "-- Do not edit: tests/test_ranges_ddl.py checks it.\n"
    )
    models = [
        model
        for model in apps.get_app_config("testapp").get_models()
        if issubclass(model, AbstractSegment) and not model._meta.proxy
    ]
    parts = [header]
    for model in sorted(models, key=lambda m: m._meta.label):
        parts.append(f"\n-- ==== {model._meta.label} ====\n\n{render_model(model)}")
    return "".join(parts)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(exist_ok=True)
    old = path.read_text() if path.exists() else None
    path.write_text(text)
    state = "unchanged" if old == text else "written"
    print(f"{path.relative_to(ROOT)}: {state}")


def main() -> None:
    """Write every generated SQL file and say which ones changed."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    _write(SCHEMA_FILE, render_testapp_schema())
    _write(OPERATIONS_FILE, render_testapp_operations())


if __name__ == "__main__":
    main()
