"""User-written segment SQL: validation, and what the database refuses without it.

Every attack is tried twice: through ``refresh()`` (validation first: the segment is
marked failed and nothing changes) and straight against the sandboxed executor with the
validator bypassed, to show that the read-only login, the READ ONLY transaction, the
timeouts and the single-statement protocol hold on their own.
"""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import connection

from django_segments.exceptions import RefreshError, UnsafeSQLError
from django_segments.membership import safe_sql
from django_segments.models import UserSegment
from tests.memberapp.models import IntMember, Secret
from tests.membership_helpers import make_segment, membership_rows, set_definition, transactional

pytestmark = pytest.mark.usefixtures("segments_reader")

ATTACKS = {
    "insert": "INSERT INTO memberapp_secret (value) VALUES ('pwned') RETURNING id",
    "update": "UPDATE memberapp_intmember SET level = 0 RETURNING id",
    "delete": "DELETE FROM memberapp_intmember RETURNING id",
    "truncate": "TRUNCATE memberapp_intmember",
    "create": "CREATE TABLE pwned AS SELECT id FROM memberapp_intmember",
    "drop": "DROP TABLE memberapp_intmember",
    "alter": "ALTER TABLE memberapp_intmember ADD COLUMN pwned int",
    "grant": "GRANT ALL ON memberapp_secret TO PUBLIC",
    "stacked": "SELECT id FROM memberapp_intmember; DROP TABLE memberapp_intmember",
    # Closes the wrapper's parenthesis and re-opens one so that the whole text parses.
    "wrapper_escape": "SELECT id FROM memberapp_intmember) AS t(x); "
    "DROP TABLE memberapp_intmember; SELECT * FROM (SELECT 1",
    "comment_escape": "SELECT id FROM memberapp_intmember -- ) AS t(x)\n; DROP TABLE memberapp_secret",
    "block_comment": "SELECT id FROM memberapp_intmember /* ; */; DELETE FROM memberapp_secret",
    "dollar_quote": "SELECT $$ ) AS t(x); $$::text AS id; DELETE FROM memberapp_secret; SELECT $$ $$",
    "select_into": "SELECT id INTO pwned FROM memberapp_intmember",
    "for_update": "SELECT id FROM memberapp_intmember FOR UPDATE",
    "writing_cte": "WITH gone AS (DELETE FROM memberapp_intmember RETURNING id) SELECT id FROM gone",
    "set_config_role": "SELECT id FROM memberapp_intmember WHERE set_config('role', 'none', true) "
    "IS NOT NULL",
    "set_config_timeout": "SELECT id FROM memberapp_intmember "
    "WHERE set_config('statement_timeout', '0', false) IS NOT NULL",
    "set_role": "SET ROLE postgres",
    "reset": "RESET ALL",
    "set": "SET statement_timeout = 0",
    "copy_program": "COPY (SELECT 1) TO PROGRAM 'touch /tmp/pwned'",
    "lo_import": "SELECT lo_import('/etc/passwd')",
    "read_file": "SELECT pg_read_file('/etc/passwd')",
    "advisory_lock": "SELECT pg_advisory_lock(1)",
    "terminate": "SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
    "query_to_xml": "SELECT query_to_xml('DELETE FROM memberapp_secret', true, true, '')",
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_validator_rejects(name) -> None:
    with pytest.raises(UnsafeSQLError):
        safe_sql.validate_sql(ATTACKS[name])


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("", "empty"),
        ("SELEC id", "does not parse"),
        ("SELECT 1; SELECT 2", "exactly one SELECT statement; found 2"),
        ("DELETE FROM t", "found Delete"),
        ("TRUNCATE t", "found Truncate"),
        ("SELECT id INTO x FROM t", "SELECT INTO"),
        ("SELECT id FROM t FOR SHARE", "FOR UPDATE / FOR SHARE"),
        ("SELECT id FROM (SELECT id FROM t FOR UPDATE) s", "FOR UPDATE / FOR SHARE"),
        ("WITH x AS (UPDATE t SET a = 1 RETURNING id) SELECT id FROM x", "UPDATE is not allowed"),
        ("SELECT pg_catalog.set_config('role', 'none', true)", "set_config() is not allowed"),
        ("SELECT lo_export(1, '/tmp/x')", "lo_export() is not allowed"),
        ("SELECT 1; -- trailing", "cannot be used as a subquery"),
        (" ;; ", "empty"),
    ],
)
def test_validator_messages(sql, message) -> None:
    with pytest.raises(UnsafeSQLError, match=message.replace("(", r"\(").replace(")", r"\)")):
        safe_sql.validate_sql(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM memberapp_intmember",
        "SELECT id, email FROM memberapp_intmember WHERE email LIKE '%@example.org'",
        "WITH x AS (SELECT id FROM memberapp_intmember) SELECT id FROM x UNION SELECT 1",
        "SELECT m.id FROM memberapp_intmember m JOIN auth_user u ON u.email = m.email",
        "SELECT id FROM memberapp_intmember -- trailing comment",
        "SELECT id FROM memberapp_intmember;",
        "SELECT id FROM memberapp_intmember ; ;\n",
        "SELECT '; DROP TABLE x' AS id",
        "SELECT id FROM memberapp_intmember WHERE $q$ ) t; DROP TABLE x; $q$ <> ''",
        "SELECT id FROM memberapp_intmember /* ; DELETE FROM x */",
        "SELECT id FROM memberapp_intmember, pg_sleep(0)",
    ],
)
def test_validator_accepts_plain_selects(sql) -> None:
    safe_sql.validate_sql(sql)


@pytest.fixture
def members(settings) -> list[IntMember]:
    settings.SEGMENTS_MEMBER_MODEL = "memberapp.IntMember"
    Secret.objects.create(value="hidden")
    return IntMember.objects.bulk_create(IntMember(email=f"m{i}@example.org", level=i) for i in range(10))


def _database_state() -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM memberapp_intmember), "
            "(SELECT sum(level) FROM memberapp_intmember), "
            "(SELECT array_agg(value ORDER BY id) FROM memberapp_secret), "
            "(SELECT count(*) FROM information_schema.columns "
            " WHERE table_name = 'memberapp_intmember'), "
            "to_regclass('pwned') IS NULL, "
            "has_table_privilege('public', 'memberapp_secret', 'SELECT')"
        )
        return cursor.fetchone()


@transactional
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_through_refresh_fails_cleanly(members, name) -> None:
    segment = make_segment(sql="SELECT id FROM memberapp_intmember WHERE level >= 5")
    segment.refresh()
    before, state = membership_rows(segment), _database_state()
    set_definition(segment, sql=ATTACKS[name])
    with pytest.raises(RefreshError):
        segment.refresh()
    segment.refresh_from_db()
    assert segment.state == "failed"
    assert segment.last_error
    assert membership_rows(segment) == before
    assert _database_state() == state


def _run_unvalidated(sql: str) -> list[str]:
    """Stream ``sql`` through the sandbox, skipping `validate_sql`."""
    rows = []
    for batch in safe_sql._stream(safe_sql.wrap_ids(sql, "bigint"), 100):
        rows.extend(batch)
    return rows


DATABASE_REFUSES = {
    "insert": "syntax error",
    "update": "syntax error",
    "delete": "syntax error",
    "truncate": "syntax error",
    "create": "syntax error",
    "drop": "syntax error",
    "alter": "syntax error",
    "grant": "syntax error",
    "set_role": "syntax error",
    "reset": "syntax error",
    "set": "syntax error",
    "copy_program": "syntax error",
    "stacked": "syntax error",
    "block_comment": "syntax error",
    "wrapper_escape": "cannot insert multiple commands into a prepared statement",
    "comment_escape": "syntax error",
    "dollar_quote": "syntax error",
    "select_into": "SELECT ... INTO is not allowed here",
    "for_update": "cannot execute SELECT FOR UPDATE in a read-only transaction",
    "writing_cte": "must be at the top level",
    "lo_import": "permission denied for function lo_import",
    "read_file": "permission denied for function pg_read_file",
    "advisory_lock": "invalid input syntax for type bigint",
    # The first row pg_stat_activity returns decides the message, and it differs by version:
    # the exec login may not signal other backends, whichever check Postgres meets first.
    "terminate": "invalid input syntax for type bigint|must be a superuser to terminate"
    "|permission denied to terminate",
    "query_to_xml": "DELETE is not allowed in a non-volatile function",
}


@transactional
@pytest.mark.parametrize("name", sorted(DATABASE_REFUSES))
def test_database_refuses_attack_without_the_validator(members, name) -> None:
    state = _database_state()
    with pytest.raises(RefreshError, match=DATABASE_REFUSES[name]):
        _run_unvalidated(ATTACKS[name])
    assert _database_state() == state


@transactional
def test_reader_login_is_not_privileged(members) -> None:
    with safe_sql.read_only_session() as raw:
        row = raw.execute(
            "SELECT current_user, rolsuper, current_setting('transaction_read_only'), "
            "current_setting('statement_timeout'), current_setting('lock_timeout') "
            "FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    assert row == ("segments_reader", False, "on", "30s", "5s")
    # set_config('role', ...) only switches back to the same weak login.
    assert len(_run_unvalidated(ATTACKS["set_config_role"])) == 10
    with pytest.raises(RefreshError, match="permission denied to set role"):
        _run_unvalidated(
            "SELECT id FROM memberapp_intmember WHERE set_config('role', 'postgres', true) IS NOT NULL"
        )


@transactional
def test_reading_a_forbidden_table_fails_and_names_it(members) -> None:
    segment = make_segment(sql="SELECT id FROM memberapp_secret")
    with pytest.raises(RefreshError, match="permission denied for table memberapp_secret"):
        segment.refresh()
    for table in ("django_segments_membership", "django_session"):
        with pytest.raises(RefreshError, match=f"permission denied for table {table}"):
            _run_unvalidated(f"SELECT 1 FROM {table}")


@transactional
def test_statement_timeout_stops_a_slow_query(members, settings) -> None:
    settings.SEGMENTS_STATEMENT_TIMEOUT = 300
    segment = make_segment(sql="SELECT id FROM memberapp_intmember, pg_sleep(5)")
    started = time.monotonic()
    with pytest.raises(RefreshError, match="statement timeout"):
        segment.refresh()
    assert time.monotonic() - started < 4
    assert UserSegment.objects.get(pk=segment.pk).state == "failed"


@transactional
def test_timeout_survives_set_config_inside_the_query(members, settings) -> None:
    settings.SEGMENTS_STATEMENT_TIMEOUT = 300
    started = time.monotonic()
    with pytest.raises(RefreshError, match="statement timeout"):
        _run_unvalidated(
            "SELECT id FROM memberapp_intmember, "
            "(SELECT set_config('statement_timeout', '0', false)) s, pg_sleep(3)"
        )
    assert time.monotonic() - started < 2.5


@transactional
def test_lock_timeout_stops_a_query_waiting_for_a_lock(members, settings) -> None:
    settings.SEGMENTS_LOCK_TIMEOUT = 200
    params = connection.get_connection_params()
    for key in ("cursor_factory", "context", "prepare_threshold", "server_side_binding"):
        params.pop(key, None)
    with psycopg.connect(**params) as blocker:
        blocker.execute("LOCK TABLE memberapp_intmember IN ACCESS EXCLUSIVE MODE")
        segment = make_segment(sql="SELECT id FROM memberapp_intmember")
        with pytest.raises(RefreshError, match="lock timeout"):
            segment.refresh()
        blocker.rollback()
    assert segment.refresh().member_count == 10


@transactional
def test_percent_signs_and_live_checks(members) -> None:
    sql = "SELECT id FROM memberapp_intmember WHERE email LIKE 'm1%' OR level = 7"
    segment = make_segment(sql=sql)
    live = {m.pk for m in members if segment.matches(m)}
    segment.refresh()
    assert live == {members[1].pk, members[7].pk}
    assert {m.pk for m in segment.members} == live


@transactional
def test_statements_smuggled_in_quotes_or_comments_are_just_text(members) -> None:
    segment = make_segment(
        sql="SELECT id FROM memberapp_intmember "
        "WHERE $q$ ) t; DELETE FROM memberapp_secret; $q$ <> '' "
        "/* ) t; DROP TABLE memberapp_intmember; */ -- ; TRUNCATE memberapp_secret"
    )
    assert segment.refresh().member_count == 10
    assert Secret.objects.count() == 1
    assert IntMember.objects.count() == 10


@transactional
def test_a_trailing_semicolon_is_accepted(members) -> None:
    segment = make_segment(sql="SELECT id FROM memberapp_intmember WHERE level >= 5;\n")
    assert segment.matches(members[5])
    assert segment.refresh().member_count == 5
