"""User-written segment SQL: validation, and what the database refuses without it.

Every attack is tried twice: through ``refresh()`` (validation first: the segment is
marked failed and nothing changes) and straight against the sandboxed executor with the
validator bypassed, to show that the read-only login, the READ ONLY transaction, the
timeouts and the single-statement protocol hold on their own.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
import unittest
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import TestCase

from django_segments.exceptions import RefreshError, UnsafeSQLError
from django_segments.membership import safe_sql, sql_functions
from django_segments.models import UserSegment
from django_segments.testing import segment_sql_on_writer
from tests.memberapp.models import IntMember, Secret
from tests.membership_helpers import make_segment, membership_rows, set_definition, transactional
from tests.test_readme import python_blocks

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
    # This database's backends only: the reader login is shared by every database of the
    # server, and the backends of another test run on it are not this test's to end.
    "terminate": "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()",
    "query_to_xml": "SELECT query_to_xml('DELETE FROM memberapp_secret', true, true, '')",
    # Functions that run SQL text: the text is a string literal, which a parse cannot see into.
    "ts_stat_set_config": "SELECT id FROM memberapp_intmember WHERE EXISTS (SELECT FROM "
    "ts_stat('SELECT set_config(''statement_timeout'', ''0'', false)::tsvector'))",
    "ts_stat_advisory_lock": "SELECT id FROM memberapp_intmember WHERE EXISTS (SELECT FROM "
    "ts_stat('SELECT pg_advisory_lock(7)::text::tsvector'))",
    "ts_stat_read_file": "SELECT id FROM memberapp_intmember WHERE EXISTS (SELECT FROM "
    "ts_stat('SELECT pg_read_file(''/etc/passwd'')::tsvector'))",
    "parameter": "SELECT $1::bigint",
}

#: Refused by validation alone (each of ATTACKS also runs through a refresh, which costs more).
REFUSED = {
    "ts_rewrite_query": "SELECT id FROM memberapp_intmember WHERE "
    "ts_rewrite('a'::tsquery, 'SELECT ''a''::tsquery, ''b''::tsquery') IS NOT NULL",
    "query_to_xml_and_xmlschema": "SELECT query_to_xml_and_xmlschema('SELECT 1', true, true, '')",
    "table_to_xml": "SELECT table_to_xml('memberapp_intmember', true, true, '')",
    "schema_to_xml": "SELECT schema_to_xml('public', true, true, '')",
    "database_to_xml": "SELECT database_to_xml(true, true, '')",
    "cursor_to_xml": "SELECT cursor_to_xml('c', 1, true, true, '')",
    # Functions that change server state.
    "stat_reset_shared": "SELECT id FROM memberapp_intmember WHERE pg_stat_reset_shared('bgwriter') IS NULL",
    "log_memory_contexts": "SELECT id FROM memberapp_intmember "
    "WHERE pg_log_backend_memory_contexts(pg_backend_pid())",
    "assign_xid": "SELECT id FROM memberapp_intmember WHERE txid_current() > 0",
    "sequence": "SELECT nextval('memberapp_intmember_id_seq')",
    "sleep": "SELECT id FROM memberapp_intmember, pg_sleep(0)",
    "notify": "SELECT pg_notify('c', 'x')",
    # Functions outside pg_catalog: the app's or an extension's, unless listed in a setting.
    "own_function": "SELECT id FROM memberapp_intmember WHERE public.segments_own(id)",
    "extension_function": "SELECT id FROM memberapp_intmember WHERE dblink_connect('x') = 'OK'",
    "qualified_elsewhere": "SELECT id FROM memberapp_intmember WHERE public.lower(email) = ''",
}


@pytest.mark.parametrize("sql", [*ATTACKS.values(), *REFUSED.values()], ids=[*ATTACKS, *REFUSED])
def test_validator_rejects(sql) -> None:
    with pytest.raises(UnsafeSQLError):
        safe_sql.validate_sql(sql)


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
        ("SELECT ts_stat('SELECT 1')", "ts_stat() is not allowed"),
        ("SELECT pg_catalog.set_config('a.b', 'c', true)", "pg_catalog.set_config() is not allowed"),
        ("SELECT public.lower('a')", "public.lower() is not allowed"),
        ("SELECT id FROM t WHERE id = $1", "$1 is a parameter"),
        ("SELECT $2::bigint", "$2 is a parameter"),
        (1, "Segment SQL must be a string; got int."),
    ],
)
def test_validator_messages(sql, message) -> None:
    with pytest.raises(UnsafeSQLError, match=re.escape(message)):
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
        # Built-ins, also those written with SQL syntax (EXTRACT, AT TIME ZONE, TRIM, ...).
        "SELECT pg_catalog.lower(email), upper(email), count(*) OVER (), row_number() OVER () "
        "FROM memberapp_intmember",
        "SELECT extract(year FROM now()), now() AT TIME ZONE 'UTC', substring('ab' FROM 1 FOR 1), "
        "trim(BOTH FROM ' a '), position('a' IN 'ab'), overlay('ab' PLACING 'c' FROM 1), "
        "collation for ('a'), 'a' IS NORMALIZED, coalesce(NULL, 1), current_date",
        "SELECT g FROM generate_series(1, 10) AS g WHERE random() < 0.5 AND clock_timestamp() > now()",
        "SELECT string_agg(email, ',') FROM memberapp_intmember GROUP BY level",
        "SELECT id FROM memberapp_intmember WHERE to_tsvector(email) @@ to_tsquery('x')",
        "SELECT id FROM memberapp_intmember WHERE email = $$a$$ OR email = $q$$1$q$",
    ],
)
def test_validator_accepts_plain_selects(sql) -> None:
    safe_sql.validate_sql(sql)


def test_functions_of_a_setting_are_allowed_as_they_are_spelled(settings) -> None:
    settings.SEGMENTS_SQL_EXTRA_FUNCTIONS = ["unaccent", "public.similarity"]
    safe_sql.validate_sql("SELECT id FROM t WHERE unaccent(name) = 'a'")
    safe_sql.validate_sql("SELECT id FROM t WHERE public.similarity(name, 'a') > 0.5")
    with pytest.raises(UnsafeSQLError, match=r"function public\.unaccent\(\) is not allowed"):
        safe_sql.validate_sql("SELECT id FROM t WHERE public.unaccent(name) = 'a'")
    with pytest.raises(UnsafeSQLError, match=r"function similarity\(\) is not allowed"):
        safe_sql.validate_sql("SELECT id FROM t WHERE similarity(name, 'a') > 0.5")
    settings.SEGMENTS_SQL_EXTRA_FUNCTIONS = "unaccent"
    with pytest.raises(ImproperlyConfigured, match="SEGMENTS_SQL_EXTRA_FUNCTIONS must be a list"):
        safe_sql.validate_sql("SELECT 1")


@pytest.mark.django_db
def test_builtin_function_list_matches_the_catalog(server_version) -> None:
    """Nothing listed is unsafe on this server; on the version it was read from, the list
    is the catalog's (run ``make sql`` after a change of the rule or a new version)."""
    listed = sql_functions.builtin_functions()
    with connection.cursor() as cursor:
        allowed = set(sql_functions.catalog_functions(cursor))
        cursor.execute("SELECT DISTINCT proname FROM pg_proc WHERE pronamespace = 'pg_catalog'::regnamespace")
        present = {row[0] for row in cursor.fetchall()}
    assert (listed & present) - allowed == set()
    assert {"lower", "now", "count", "extract", "random"} <= listed
    assert not {"set_config", "ts_stat", "query_to_xml", "table_to_xml", "txid_current"} & listed
    if server_version // 10000 == sql_functions.generated_from():
        assert listed == allowed


@pytest.fixture
def on_writer() -> Iterator[None]:
    """Segment SQL sees the test's own uncommitted rows (no transactional test needed)."""
    with segment_sql_on_writer():
        yield


@pytest.fixture
def members(settings) -> list[IntMember]:
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


@pytest.mark.member_model("memberapp.IntMember")
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
    for batch in safe_sql._stream(sql, "bigint", 100):
        rows.extend(batch)
    return rows


#: What the database answers to each attack (the shown part of its error).
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
    # Raised without a position, a syntax error may come from text the query computed.
    "wrapper_escape": "SQLSTATE 42601 syntax_error .*message is not shown",
    "comment_escape": "syntax error",
    "dollar_quote": "syntax error",
    "select_into": "SELECT ... INTO is not allowed here",
    "for_update": "cannot execute SELECT FOR UPDATE in a read-only transaction",
    "writing_cte": "must be at the top level",
    "lo_import": "permission denied for function lo_import",
    "read_file": "permission denied for function pg_read_file",
    # The exec login may not signal the backends of other logins (the message differs by
    # version); a query that first reaches its own backend ends its own connection.
    "terminate": "must be a superuser to terminate|permission denied to terminate"
    "|terminating connection due to administrator command|the connection failed",
    # Raised inside the SQL that query_to_xml runs: no position in the segment's SQL.
    "query_to_xml": "SQLSTATE 0A000 feature_not_supported",
    "parameter": "bind message supplies 0 parameters",
}


@pytest.mark.member_model("memberapp.IntMember")
@transactional
@pytest.mark.parametrize("name", sorted(DATABASE_REFUSES))
def test_database_refuses_attack_without_the_validator(members, name) -> None:
    state = _database_state()
    with pytest.raises(RefreshError, match=DATABASE_REFUSES[name]):
        _run_unvalidated(ATTACKS[name])
    assert _database_state() == state


@pytest.mark.member_model("memberapp.IntMember")
@transactional
def test_an_advisory_lock_taken_without_the_validator_ends_with_the_sandbox(members) -> None:
    # pg_advisory_lock() returns void, which is no member id: the row is skipped (None),
    # and the lock goes with the sandbox's connection.
    state = _database_state()
    assert _run_unvalidated(ATTACKS["advisory_lock"]) == [None]
    assert _database_state() == state
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        assert cursor.fetchone() == (0,)


@pytest.mark.member_model("memberapp.IntMember")
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


@pytest.mark.member_model("memberapp.IntMember")
@transactional
def test_reading_a_forbidden_table_fails_and_names_it(members) -> None:
    segment = make_segment(sql="SELECT id FROM memberapp_secret")
    with pytest.raises(RefreshError, match="permission denied for table memberapp_secret"):
        segment.refresh()
    for table in ("django_segments_membership", "django_session"):
        with pytest.raises(RefreshError, match=f"permission denied for table {table}"):
            _run_unvalidated(f"SELECT 1 FROM {table}")


@pytest.mark.member_model("memberapp.IntMember")
@transactional
def test_statement_timeout_stops_a_slow_query(members, settings) -> None:
    settings.SEGMENTS_STATEMENT_TIMEOUT = 300
    segment = make_segment(sql="SELECT a.id FROM memberapp_intmember a, generate_series(1, 1000000000) g")
    started = time.monotonic()
    with pytest.raises(RefreshError, match="statement timeout"):
        segment.refresh()
    assert time.monotonic() - started < 4
    assert UserSegment.objects.get(pk=segment.pk).state == "failed"


@pytest.mark.member_model("memberapp.IntMember")
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


@pytest.mark.member_model("memberapp.IntMember")
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


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_percent_signs_and_live_checks(members, on_writer) -> None:
    sql = "SELECT id FROM memberapp_intmember WHERE email LIKE 'm1%' OR level = 7"
    segment = make_segment(sql=sql)
    live = {m.pk for m in members if segment.matches(m)}
    segment.refresh()
    assert live == {members[1].pk, members[7].pk}
    assert {m.pk for m in segment.members} == live


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_statements_smuggled_in_quotes_or_comments_are_just_text(members, on_writer) -> None:
    segment = make_segment(
        sql="SELECT id FROM memberapp_intmember "
        "WHERE $q$ ) t; DELETE FROM memberapp_secret; $q$ <> '' "
        "/* ) t; DROP TABLE memberapp_intmember; */ -- ; TRUNCATE memberapp_secret"
    )
    assert segment.refresh().member_count == 10
    assert Secret.objects.count() == 1
    assert IntMember.objects.count() == 10


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_a_trailing_semicolon_is_accepted(members, on_writer) -> None:
    segment = make_segment(sql="SELECT id FROM memberapp_intmember WHERE level >= 5;\n")
    assert segment.matches(members[5])
    assert segment.refresh().member_count == 5


# --- What an author of segment SQL learns from errors ------------------------------------

#: Queries whose error message, as the database writes it, quotes a value they read (the
#: password hash of the first user) or a piece of it. The reader login may read auth_user.
LEAKS = {
    "cast to int": "SELECT (SELECT password FROM auth_user ORDER BY id LIMIT 1)::int",
    "cast to date": "SELECT id FROM auth_user WHERE password::date IS NOT NULL",
    "cast to uuid": "SELECT id FROM auth_user WHERE password::uuid IS NOT NULL",
    "json, in DETAIL": "SELECT id FROM auth_user WHERE password::jsonb IS NOT NULL",
    "xml, in DETAIL": "SELECT id FROM auth_user WHERE xmlparse(document password) IS NOT NULL",
    "to_date": "SELECT id FROM auth_user WHERE to_date(password, 'YYYY') IS NOT NULL",
    # Class 42 raised while the query runs, not while it is parsed: no position.
    "regclass": "SELECT id FROM auth_user WHERE password::regclass IS NOT NULL",
    "setting name": "SELECT id FROM auth_user WHERE current_setting(password) IS NOT NULL",
    "privilege of a table": "SELECT id FROM auth_user WHERE has_table_privilege(password, 'SELECT')",
}


@pytest.fixture
def password_hash(segments_reader) -> str:
    from django.contrib.auth.models import User

    user = User.objects.create_user("alice", password="correct horse battery staple")
    User.objects.create_user("bob", password="another one")
    return user.password


def _pieces(secret: str) -> list[str]:
    """Parts of the hash that no fixed message contains: salt and digest."""
    return [piece.lower() for piece in secret.split("$")[1:] if len(piece) >= 6]


@transactional
@pytest.mark.parametrize("name", sorted(LEAKS))
def test_errors_of_user_sql_do_not_quote_values_it_read(password_hash, name) -> None:
    segment = make_segment(sql=LEAKS[name])
    with pytest.raises(RefreshError) as refreshed:
        segment.refresh()
    with pytest.raises(RefreshError) as previewed:
        UserSegment(name="p", slug="p", sql=LEAKS[name]).preview()
    from django.contrib.auth.models import User

    with pytest.raises(RefreshError) as matched:
        segment.matches(User.objects.get(username="alice"))
    segment.refresh_from_db()
    shown = [str(refreshed.value), str(previewed.value), str(matched.value), segment.last_error]
    shown += list(segment.refresh_runs.values_list("error", flat=True))
    for text in shown:
        for piece in _pieces(password_hash):
            assert piece not in text.lower(), text
        assert "SQLSTATE" in text


@transactional
def test_a_first_column_of_no_keys_is_skipped_without_showing_it(password_hash) -> None:
    from django.contrib.auth.models import User

    sql = "SELECT password FROM auth_user"
    segment = make_segment(sql=sql)
    result = segment.refresh()
    previewed = UserSegment(name="p", slug="p", sql=sql).preview()
    assert (result.member_count, previewed.count) == (0, 0)
    assert not segment.matches(User.objects.get(username="alice"))
    segment.refresh_from_db()
    shown = [*result.warnings, *previewed.warnings, segment.last_warnings]
    assert shown[0] == "2 row(s) of the SQL skipped: the first column is not a valid key (integer)."
    for text in shown:
        for piece in _pieces(password_hash):
            assert piece not in text.lower(), text


@transactional
def test_a_function_raising_a_shown_code_with_a_value_shows_only_the_code(password_hash, settings) -> None:
    """PL/pgSQL may raise any SQLSTATE with any message; raised inside a function
    (the error has a CONTEXT), a message is never shown."""
    settings.SEGMENTS_SQL_EXTRA_FUNCTIONS = ["segments_raise"]
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION segments_raise(message text) RETURNS boolean LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = message; END $$"
        )
    try:
        segment = make_segment(sql="SELECT id FROM auth_user WHERE segments_raise(password)")
        with pytest.raises(RefreshError) as caught:
            segment.refresh()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP FUNCTION segments_raise(text)")
    assert "SQLSTATE 42501 insufficient_privilege" in str(caught.value)
    for piece in _pieces(password_hash):
        assert piece not in str(caught.value).lower()


@pytest.mark.member_model("memberapp.IntMember")
@transactional
def test_errors_located_in_the_sql_keep_message_and_position(members) -> None:
    sql = "SELECT id\nFROM memberapp_intmember\nWHERE nope = 1"
    with pytest.raises(RefreshError) as caught:
        _run_unvalidated(sql)
    error = caught.value
    assert (error.sqlstate, error.position) == ("42703", sql.index("nope") + 1)
    assert str(error) == (
        'Segment SQL failed: column "nope" does not exist (SQLSTATE 42703 undefined_column), '
        "at line 3, column 7 of the SQL."
    )
    # A data error of a constant written in the SQL keeps its position, not its message.
    segment = make_segment(sql="SELECT id FROM memberapp_intmember WHERE level = 'x1'::int")
    with pytest.raises(RefreshError) as caught:
        segment.matches(members[0])
    assert caught.value.position == 50
    assert str(caught.value) == (
        "Segment SQL failed with SQLSTATE 22P02 invalid_text_representation (class 22, "
        "data_exception), at line 1, column 50 of the SQL; the database's message is not "
        "shown, as it may quote values the query read."
    )


# --- Size and depth of the text ----------------------------------------------------------


def test_a_text_over_the_length_cap_is_refused_before_it_is_parsed(settings, monkeypatch) -> None:
    def no_parse(sql: str) -> None:
        raise AssertionError("parsed")

    monkeypatch.setattr(safe_sql.pglast, "parse_sql", no_parse)
    with pytest.raises(UnsafeSQLError, match=r"10,000,019 characters long; .* at most 20,000 \(SEGMENTS_SQL"):
        safe_sql.validate_sql("SELECT 1 WHERE " + "1 = 1 AND " * 1_000_000 + "true")
    settings.SEGMENTS_SQL_MAX_LENGTH = 100
    with pytest.raises(UnsafeSQLError, match="101 characters long; segment SQL may have at most 100 "):
        safe_sql.validate_sql("SELECT 1" + " " * 93)
    monkeypatch.undo()
    safe_sql.validate_sql("SELECT 1" + " " * 92)


@pytest.mark.parametrize("value", [0, -1, 1_000_001, "20000", True, 1.5])
def test_the_length_cap_must_be_a_sane_integer(settings, value) -> None:
    settings.SEGMENTS_SQL_MAX_LENGTH = value
    with pytest.raises(ImproperlyConfigured, match="SEGMENTS_SQL_MAX_LENGTH must be an integer"):
        safe_sql.validate_sql("SELECT 1")


#: Validates the deepest text of the default cap (9,999 chained terms) from a thread with
#: a 1 MiB stack, as a web server's worker thread may have. pglast builds its tree by
#: recursion in C; on the caller's stack this ended the process (SIGSEGV).
DEEP_TEXT_IN_A_SMALL_THREAD = """
import threading
import django
from django.conf import settings
settings.configure()
django.setup()
from django_segments.membership.safe_sql import validate_sql
sql = "SELECT " + "+".join("1" for _ in range(9_996))
assert len(sql) <= 20_000
threading.stack_size(1024 * 1024)
thread = threading.Thread(target=validate_sql, args=(sql,))
thread.start()
thread.join()
print("validated", len(sql))
"""


def test_a_deeply_nested_text_within_the_cap_does_not_crash_a_small_thread() -> None:
    child = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, "-c", DEEP_TEXT_IN_A_SMALL_THREAD],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (child.returncode, child.stdout.strip()) == (0, "validated 19998"), child.stderr[-2000:]


# --- Test mode: segment SQL on the writer's connection -----------------------------------


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_without_test_mode_segment_sql_cannot_see_the_tests_rows(members) -> None:
    segment = make_segment(sql="SELECT id FROM memberapp_intmember WHERE level >= 5")
    with pytest.raises(RefreshError, match="segments_exec"):  # not among the test's databases
        segment.refresh()


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_test_mode_sees_the_tests_uncommitted_rows(members) -> None:
    segment = make_segment(sql="SELECT id FROM memberapp_intmember WHERE level >= 5")
    with segment_sql_on_writer():
        assert segment.refresh().member_count == 5
        assert [segment.matches(m) for m in members] == [m.level >= 5 for m in members]
        assert segment.preview().count == 5
        with pytest.raises(RefreshError, match="SQLSTATE 42703"):
            UserSegment(name="bad", slug="bad", sql="SELECT nope FROM memberapp_intmember").preview()
    assert {m.pk for m in segment.members} == {m.pk for m in members if m.level >= 5}
    assert IntMember.objects.count() == 10  # the transaction is usable after the failure


def _writer_settings() -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('transaction_read_only'), current_setting('statement_timeout'), "
            "current_setting('lock_timeout'), current_setting('search_path')"
        )
        return cursor.fetchone()


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.parametrize(
    "transaction",
    [
        pytest.param(False, marks=pytest.mark.django_db, id="in the test's transaction"),
        pytest.param(True, marks=pytest.mark.django_db(transaction=True), id="in autocommit"),
    ],
)
def test_test_mode_keeps_the_wrapper_read_only_and_timeouts(request, transaction, settings) -> None:
    request.getfixturevalue("members")
    before = _writer_settings()
    settings.SEGMENTS_STATEMENT_TIMEOUT = 200
    with segment_sql_on_writer():
        with pytest.raises(RefreshError, match="read-only transaction"):
            _run_unvalidated("SELECT nextval('memberapp_intmember_id_seq')")
        with pytest.raises(RefreshError, match="statement timeout"):
            _run_unvalidated("SELECT a.id FROM memberapp_intmember a, generate_series(1, 1000000000) g")
        with pytest.raises(RefreshError, match=r"SQLSTATE 42601 syntax_error"):
            _run_unvalidated(ATTACKS["wrapper_escape"])
        assert (
            len(
                _run_unvalidated(
                    "SELECT id FROM memberapp_intmember WHERE set_config('search_path', "
                    "'pg_temp', false) IS NOT NULL"
                )
            )
            == 10
        )
    assert _writer_settings() == before
    assert IntMember.objects.count() == 10


@pytest.mark.member_model("memberapp.IntMember")
class SegmentSQLTestCase(TestCase):
    """The documented use in a Django ``TestCase``."""

    def setUp(self) -> None:
        self.enterContext(segment_sql_on_writer())
        IntMember.objects.bulk_create(IntMember(email=f"m{i}@example.org", level=i) for i in range(4))

    def test_refresh_sees_rows_created_in_the_test(self) -> None:
        segment = UserSegment.objects.create(
            name="Two+", slug="two", sql="SELECT id FROM memberapp_intmember WHERE level >= 2"
        )
        assert segment.refresh().member_count == 2


DOCS_TESTING = Path(__file__).resolve().parent.parent / "docs" / "testing.md"


@pytest.mark.django_db(transaction=True)
def test_the_example_of_the_testing_page_runs() -> None:
    (block,) = python_blocks(DOCS_TESTING.read_text())
    namespace: dict = {"__name__": "tests.docs_testing_example"}
    exec(compile(block, str(DOCS_TESTING), "exec"), namespace)  # noqa: S102 - the docs' own example
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(namespace["StaffSegmentTests"])
    result = unittest.TextTestRunner(stream=io.StringIO()).run(suite)
    assert (result.testsRun, result.errors, result.failures) == (1, [], [])


@pytest.mark.member_model("memberapp.IntMember")
@transactional
def test_repeated_and_unknown_ids_give_exact_membership_on_every_refresh() -> None:
    # The first refresh narrows the selection to members up front; later ones (the
    # segment has members) diff it as it came and check only the entering ids.
    members = IntMember.objects.bulk_create(IntMember(email=f"r{i}@example.org", level=i) for i in range(6))
    sql = (
        "SELECT id FROM memberapp_intmember WHERE level >= 3 UNION ALL "
        "SELECT id FROM memberapp_intmember WHERE level >= 3 UNION ALL SELECT -1"
    )
    segment = make_segment(sql=sql)
    first = segment.refresh()
    assert (first.entered, first.exited, first.member_count) == (3, 0, 3)
    IntMember.objects.filter(pk__in=[members[1].pk, members[2].pk]).update(level=9)
    IntMember.objects.filter(pk=members[5].pk).update(level=0)
    second = segment.refresh()
    assert (second.entered, second.exited, second.member_count) == (2, 1, 4)
    expected = {m.pk for m in members[1:5]}
    assert {m.pk for m in segment.members} == expected
    assert segment.memberships.current().count() == 4, "one open period per member"
