"""The checked-in SQL matches the code: sql/testapp_schema.sql the test app's migrations,
sql/testapp_operations.sql the operation statements the compiler renders."""

from __future__ import annotations

import difflib

import pytest

from tests.generate_sql import (
    OPERATIONS_FILE,
    ROOT,
    SCHEMA_FILE,
    render_testapp_operations,
    render_testapp_schema,
)
from tests.ranges_helpers import ALL_TYPES


def _matches(path, expected: str, source: str) -> None:
    name = path.relative_to(ROOT)
    assert path.exists(), f"{name} is missing: run `make sql`"
    current = path.read_text()
    if current != expected:
        diff = "".join(
            list(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    expected.splitlines(keepends=True),
                    f"{name} (checked in)",
                    f"{name} ({source})",
                    n=1,
                )
            )[:40]
        )
        pytest.fail(f"{name} is out of date: run `make sql`\n{diff}", pytrace=False)


@pytest.mark.django_db
def test_checked_in_schema_matches_the_migration() -> None:
    _matches(SCHEMA_FILE, render_testapp_schema(), "from the migration")


def test_checked_in_operations_match_the_compiler() -> None:
    _matches(OPERATIONS_FILE, render_testapp_operations(), "from the compiler")


@pytest.mark.django_db
def test_schema_is_deterministic_and_names_every_invariant() -> None:
    first, second = render_testapp_schema(), render_testapp_schema()
    assert first == second
    for table in ("intsegment", "bigintsegment", "decimalsegment", "datesegment", "datetimesegment"):
        assert f'CONSTRAINT "testapp_{table}_no_overlap" EXCLUDE USING GIST' in first
        assert f"'testapp_{table}_containment'" in first
    assert "DEFERRABLE INITIALLY DEFERRED" in first
    sections = {part.split(" ", 1)[0]: part for part in first.split("-- ==== testapp ")[1:]}
    # Proxy models add nothing to the database: no table, constraint or trigger of their own.
    proxies = sections["0004_proxies"]
    assert proxies.count("(no-op)") == 2
    assert not any(word in proxies for word in ("CREATE", "ALTER", "DROP"))
    # 0003 installs every trigger anew, with template version 2.
    latest = sections["0003_trigger_template_v2"]
    # Deferred checks live on the span table: on update and on insert, per segment model.
    assert latest.count("CREATE CONSTRAINT TRIGGER") == 5 * 2
    # The segment table queues them with three statement-level triggers; tiled models also
    # guard against TRUNCATE.
    tiled = sum(rt.tiling for rt in ALL_TYPES)
    statement_level = 5 * 3 + tiled
    assert latest.count("FOR EACH STATEMENT") == statement_level
    assert latest.count("AFTER TRUNCATE") == tiled
    installed = statement_level + 5 * 2
    assert latest.count("_segments_may_ignore(TG_NAME, TG_RELID)") == installed
    assert latest.count("SET search_path = ' || concat_ws(', ', 'pg_catalog',") == installed
    # The touch increments the span's revision; nothing is kept in session settings.
    assert latest.count('ADD COLUMN "segments_revision" bigint DEFAULT 0 NOT NULL') == 5
    assert latest.count('SET "segments_revision" = "segments_revision" + 1') == 5 * 3
    for gone in ("_segments_should_ignore", "segments.generation", "segments.touch", "set_config"):
        assert gone not in latest, gone
