"""Hostile segment SQL, one class per case, through the public user-segment API.

Each definition is first offered to ``save()`` (which may refuse it with a typed error);
then it is written around that validation, as a direct UPDATE would, and refreshed. The
refresh must fail, record the failed state, leave membership exactly as it was and have
no side effect.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from django_segments.exceptions import RefreshError, SegmentsError
from tests.membership_helpers import membership_rows
from tests.stress.conftest import count

models = pytest.importorskip("django_segments.models")

pytestmark = [
    pytest.mark.stress,
    pytest.mark.django_db(transaction=True, databases=["default", "segments_exec"]),
    pytest.mark.usefixtures("segments_reader"),
]

MEMBERS = "memberapp_intmember"
GOOD_SQL = f"SELECT id FROM {MEMBERS} WHERE level >= 5"

HOSTILE = {
    "two statements": f"SELECT id FROM {MEMBERS}; DELETE FROM {MEMBERS}",
    "wrapper escape": f"SELECT 1) AS x; DELETE FROM {MEMBERS}; SELECT (1",
    "comment escape": f"SELECT id FROM {MEMBERS} --\n) AS x; DELETE FROM {MEMBERS}; --",
    "data-modifying CTE": f"WITH d AS (DELETE FROM {MEMBERS} RETURNING id) SELECT id FROM d",
    "UPDATE statement": f"UPDATE {MEMBERS} SET level = 0 RETURNING id",
    "DDL": f"DROP TABLE {MEMBERS}",
    "SELECT INTO": f"SELECT id INTO segments_stolen FROM {MEMBERS}",
    "row locks": f"SELECT id FROM {MEMBERS} FOR UPDATE",
    "role switch": "SELECT id FROM memberapp_secret WHERE set_config('role', 'none', true) IS NOT NULL",
    "quoted function name": (
        "SELECT id FROM memberapp_secret WHERE pg_catalog.\"set_config\"('role', 'none', true) IS NOT NULL"
    ),
    "advisory lock": f"SELECT id FROM {MEMBERS} WHERE pg_advisory_lock(42) IS NOT NULL",
    "file read": "SELECT pg_read_file('/etc/passwd')::int",
    # This database's backends only: the reader login is shared by every database of the
    # server, and the backends of another test run on it are not this test's to end.
    "kill other backends": "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = current_database()",
    "forbidden table": "SELECT id FROM memberapp_secret",
    "catalog snooping": "SELECT usesysid FROM pg_shadow",
    "endless query": f"SELECT id FROM {MEMBERS}, pg_sleep(30)",
    "huge cross join": f"SELECT a.id FROM {MEMBERS} a, generate_series(1, 1000000000) g",
    "runtime error": f"SELECT id / 0 FROM {MEMBERS}",
    "not SQL": "this is not SQL",
}


def _side_effects() -> tuple[Any, ...]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT count(*) FROM {MEMBERS}), (SELECT sum(level) FROM {MEMBERS}),"
            " to_regclass('segments_stolen') IS NOT NULL,"
            " (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database ="
            "  (SELECT oid FROM pg_database WHERE datname = current_database()))"
        )
        return cursor.fetchone()


def _probe_save(sql: str) -> bool:
    """Whether ``save()`` refuses ``sql`` (with a typed error)."""
    try:
        models.UserSegment(name="Probe", slug="probe", sql=sql).save()
    except SegmentsError:
        return True
    models.UserSegment.objects.filter(slug="probe").delete()
    return False


def _attack(name: str, sql: str, validator: bool) -> tuple[list[str], str]:
    """Refresh a segment whose SQL became ``sql``; ``(problems, note)``."""
    from tests.memberapp.models import IntMember

    IntMember.objects.all().delete()
    IntMember.objects.bulk_create([IntMember(email=f"m{i}@example.org", level=i) for i in range(10)])
    segment = models.UserSegment.objects.create(name=name, slug=f"s{abs(hash(name))}", sql=GOOD_SQL)
    segment.refresh()
    before, last_success = membership_rows(segment), segment.last_success
    IntMember.objects.update(level=9)  # a successful refresh would now change membership
    effects = _side_effects()
    refused_at_save = validator and _probe_save(sql)
    models.UserSegment.objects.filter(pk=segment.pk).update(sql=sql)
    segment.refresh_from_db()
    try:
        segment.refresh()
    except RefreshError:
        failed = True
    else:
        failed = False
    segment.refresh_from_db()
    problems = []
    if _side_effects() != effects:
        problems.append(f"side effect: {effects} -> {_side_effects()}")
    if not failed:
        # Without the parse check a query that only reads may run; what it locked or set
        # ends with its own connection, which the side-effect check above verifies.
        if validator:
            problems.append("the refresh succeeded")
    elif membership_rows(segment) != before:
        problems.append("a failed refresh changed membership")
    elif (segment.state, segment.last_success) != ("failed", last_success) or not segment.last_error:
        problems.append(f"state after failure: {segment.state} {segment.last_success} {segment.last_error!r}")
    note = ("refused by save(); " if refused_at_save else "") + (
        segment.last_error[:60] if failed else "ran; nothing left behind"
    )
    area = "hostile SQL" if validator else "hostile SQL, pglast check off"
    count(area, name, ok=int(not problems), rejected=int(refused_at_save), corrupted=len(problems), note=note)
    return [f"{name}: {p}" for p in problems], note


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.parametrize("validator", [True, False], ids=["validated", "database layers only"])
def test_hostile_sql_fails_the_refresh_and_changes_nothing(validator: bool, settings, monkeypatch) -> None:
    """With pglast validation, and without it: the database layers must hold on their own."""
    settings.SEGMENTS_STATEMENT_TIMEOUT = 300
    if not validator:
        from django_segments.membership import safe_sql

        monkeypatch.setattr(safe_sql, "validate_sql", lambda sql: None)
    problems: list[str] = []
    for name, sql in HOSTILE.items():
        problems += _attack(name, sql, validator)[0]
    assert problems == [], "\n".join(problems)
