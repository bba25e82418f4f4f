"""The checked-in DDL (sql/testapp_schema.sql) matches the test app's migration."""

from __future__ import annotations

import difflib

import pytest

from tests.generate_sql import ROOT, SCHEMA_FILE, render_testapp_schema
from tests.ranges_helpers import ALL_TYPES


@pytest.mark.django_db
def test_checked_in_schema_matches_the_migration() -> None:
    expected = render_testapp_schema()
    assert SCHEMA_FILE.exists(), f"{SCHEMA_FILE.relative_to(ROOT)} is missing: run `make sql`"
    current = SCHEMA_FILE.read_text()
    if current != expected:
        diff = "".join(
            list(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    expected.splitlines(keepends=True),
                    "sql/testapp_schema.sql (checked in)",
                    "sql/testapp_schema.sql (from the migration)",
                    n=1,
                )
            )[:40]
        )
        pytest.fail(f"sql/testapp_schema.sql is out of date: run `make sql`\n{diff}", pytrace=False)


@pytest.mark.django_db
def test_schema_is_deterministic_and_names_every_invariant() -> None:
    first, second = render_testapp_schema(), render_testapp_schema()
    assert first == second
    for table in ("intsegment", "bigintsegment", "decimalsegment", "datesegment", "datetimesegment"):
        assert f'CONSTRAINT "testapp_{table}_no_overlap" EXCLUDE USING GIST' in first
        assert f"'testapp_{table}_containment'" in first
    assert "DEFERRABLE INITIALLY DEFERRED" in first
    # Deferred checks live on the span table: on update and on insert, per segment model.
    assert first.count("CREATE CONSTRAINT TRIGGER") == 5 * 2
    # The segment table queues them with three statement-level triggers (and the generation
    # one); tiled models also guard against TRUNCATE.
    tiled = sum(rt.tiling for rt in ALL_TYPES)
    assert first.count("FOR EACH STATEMENT") == 5 * 4 + 5 + tiled
    assert first.count("AFTER TRUNCATE") == tiled
