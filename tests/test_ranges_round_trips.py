"""The exact statements each operation sends: a regression guard for round trips.

`test_ranges_statements` checks that counts do not grow with the span; this pins them,
so an extra re-read or a statement executed twice shows up here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.measure import payload, statement_count
from django_segments import signals
from django_segments.exceptions import ContainmentError, IncorrectSegmentRangeError, SegmentsError
from django_segments.ranges.operations import defer_checks
from tests.ranges_helpers import ALL_TYPES, BIGINT, DATE, DATETIME, INT, assert_valid
from tests.test_ranges_statements import OPERATIONS, build

pytestmark = pytest.mark.django_db

#: (SQL statements, round trips) besides savepoints. "lock" is the span row; "check" is
#: finalize's two statements (SET CONSTRAINTS ... IMMEDIATE; SET CONSTRAINTS ... DEFERRED).
#: Brackets show what travels in one round trip.
EXPECTED = {
    "span.append": (5, 1),  # [lock, new segment, span, check] (the instance's bounds are current)
    "span.shift_by_value": (5, 1),  # [lock, span (returning its range), segments, check]
    "span.shift_lower_to_value": (5, 1),  # [lock, span, one statement removes and clips, check]
    "span.shift_upper_by_value": (5, 1),
    "segment.insert": (4, 1),  # [lock, one statement removes, cuts, clips and inserts the new segment, check]
    "segment.split": (4, 1),  # [lock, one statement that writes and returns both rows, check]
    "segment.merge_into_lower": (4, 1),  # [lock, one statement that writes and returns, check]
    "segment.shift_by_value": (5, 2),  # [lock, neighbourhood], [one UPDATE, check]
}


@contextmanager
def receiving(signal: Any, sender: Any) -> Iterator[list[Any]]:
    """Record the key of every instance ``signal`` is sent for, while the block runs."""
    seen: list[Any] = []

    def receiver(sender: Any, instance: Any, **kwargs: Any) -> None:
        seen.append(instance.pk)

    signal.connect(receiver, sender=sender)
    try:
        yield seen
    finally:
        signal.disconnect(receiver, sender=sender)


def sent(ctx: CaptureQueriesContext) -> list[str]:
    """The SQL strings captured (one per round trip), without savepoint handling (an
    operation's savepoint travels in front of its first string, `operations.atomic`)."""
    strings = [payload(q["sql"]) for q in ctx.captured_queries]
    return [sql for sql in strings if sql is not None]


def counts(ctx: CaptureQueriesContext) -> tuple[int, int]:
    """(statements, round trips), as the benchmarks count them."""
    strings = sent(ctx)
    return sum(statement_count(sql) for sql in strings), len(strings)


@pytest.mark.parametrize("rt", [INT, BIGINT], ids=str)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_statements_per_operation(rt, name) -> None:
    span = build(rt, 5)
    call = OPERATIONS[name](rt, span, 5)
    with CaptureQueriesContext(connection) as ctx:
        try:
            call()
        except SegmentsError as exc:  # pragma: no cover - the message says which
            pytest.fail(f"{name} on {rt} failed: {exc}")
    assert counts(ctx) == EXPECTED[name], "\n".join(sent(ctx))
    checks = [sql for sql in sent(ctx) if "SET CONSTRAINTS" in sql]
    assert len(checks) == 1
    assert checks[0].endswith("DEFERRED")
    assert "IMMEDIATE; SET CONSTRAINTS" in checks[0]


@pytest.mark.parametrize("rt", [INT, BIGINT], ids=str)
def test_statements_to_create_a_span(rt) -> None:
    """Tiling: one statement inserts the span and its covering segment. Gaps allowed: the
    span. A key the database assigns cannot have segments yet, so the check is left to
    commit."""
    with CaptureQueriesContext(connection) as ctx:
        span = rt.span.objects.create(current_range=rt.r(0, 10))
    assert counts(ctx) == (1, 1), "\n".join(sent(ctx))
    assert [(s.segment_range.lower, s.segment_range.upper) for s in span.get_active_segments()] == (
        [(rt.v(0), rt.v(10))] if rt.tiling else []
    )
    assert_valid(rt)


@pytest.mark.parametrize(
    "signal", [pre_save, post_save, signals.segment_pre_create, signals.segment_post_create]
)
def test_a_first_segment_someone_listens_to_is_saved_by_django(signal) -> None:
    """Its save signals are sent with the span saved and the segment as Django saves it:
    the segment is then an ``INSERT`` of its own, after the span's."""
    seen: list[Any] = []

    def receiver(sender: Any, instance: Any, **kwargs: Any) -> None:
        seen.append((instance.span_id is not None, instance.segment_range.upper))

    signal.connect(receiver, sender=INT.segment)
    try:
        with CaptureQueriesContext(connection) as ctx:
            span = INT.span.objects.create(current_range=INT.r(0, 10))
    finally:
        signal.disconnect(receiver, sender=INT.segment)
    assert counts(ctx) == (2, 2), "\n".join(sent(ctx))
    assert seen == [(True, 10)]
    assert [s.segment_range.upper for s in span.get_active_segments()] == [10]


def test_the_first_segment_in_the_spans_statement_gets_its_defaults_and_key() -> None:
    """The segment's fields come from Django (defaults, ``pre_save``); its key and columns
    from the statement's ``RETURNING``; the span's key from the span's."""
    seen: list[Any] = []

    def receiver(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
        seen.append((created, instance.pk))

    post_save.connect(receiver, sender=INT.span)
    try:
        span = INT.span.objects.create(current_range=INT.r(0, 10), name="s")
    finally:
        post_save.disconnect(receiver, sender=INT.span)
    (segment,) = INT.segment.objects.filter(span=span)
    assert seen == [(True, span.pk)]
    assert (segment.label, segment.weight, segment.deleted_at) == ("", 1, None)
    assert segment.segment_range == span.current_range


@pytest.mark.parametrize(("rt", "expected"), [(INT, (4, 2)), (BIGINT, (3, 2))], ids=str)
def test_a_span_with_a_given_key_is_checked_at_once(rt, expected) -> None:
    """Segments written earlier in the transaction may name a key the caller chose."""
    key = rt.span.objects.create(current_range=rt.r(0, 10)).pk + 1000
    with CaptureQueriesContext(connection) as ctx:
        rt.span.objects.create(pk=key, current_range=rt.r(0, 10))
    assert counts(ctx) == expected, "\n".join(sent(ctx))
    assert "IMMEDIATE; SET CONSTRAINTS" in sent(ctx)[-1]


def test_segments_written_before_a_span_with_a_given_key_are_refused_at_its_save() -> None:
    """Gaps allowed, key given: a segment outside the new span, written first (the span
    foreign key is deferred), fails the span's save with a typed error."""
    key = BIGINT.span.objects.create(current_range=BIGINT.r(0, 10)).pk + 1000
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{BIGINT.seg_table}" (span_id, segment_range, label) VALUES (%s, %s, %s)',
            [key, BIGINT.r(20, 30), ""],
        )
    with pytest.raises(ContainmentError):
        BIGINT.span.objects.create(pk=key, current_range=BIGINT.r(0, 10))
    assert not BIGINT.span.objects.filter(pk=key).exists()
    with connection.cursor() as cursor:  # its foreign key would fail the test's teardown
        cursor.execute(f'DELETE FROM "{BIGINT.seg_table}" WHERE span_id = %s', [key])


def test_removing_a_segment_is_checked_only_where_gaps_are_forbidden() -> None:
    """Removing a segment cannot put another outside its span: with every kind of gap
    allowed, the delete is the lock and the delete, nothing else."""
    span = build(BIGINT, 5)
    segment = span.first_segment
    key = segment.pk
    with CaptureQueriesContext(connection) as ctx:
        segment.delete()
    assert not any("SET CONSTRAINTS" in sql for sql in sent(ctx)), "\n".join(sent(ctx))
    assert counts(ctx) == (2, 1)  # [lock, DELETE]
    assert not BIGINT.segment.all_objects.filter(pk=key).exists()


def test_a_hard_segment_delete_writes_its_delete_by_hand() -> None:
    """Where Django would take its fast path (nothing listens, nothing to follow), the
    lock, the ``DELETE`` by key and the check are one string; the result and the instance
    are what Django's delete leaves."""
    span = build(BIGINT, 5)
    segment = span.first_segment
    key = segment.pk
    with CaptureQueriesContext(connection) as ctx:
        result = segment.delete()
    (string,) = sent(ctx)
    assert f'; DELETE FROM "{BIGINT.seg_table}" WHERE "id" = {key}' in string, string
    assert result == (1, {BIGINT.segment._meta.label: 1})
    assert segment.pk is None
    assert not BIGINT.segment.all_objects.filter(pk=key).exists()
    assert_valid(BIGINT)


def test_a_hard_segment_delete_with_a_listener_is_djangos() -> None:
    """A ``pre_delete`` receiver: Django deletes (and signals), framed by the lock."""
    span = build(BIGINT, 5)
    segment = span.first_segment
    key = segment.pk
    with receiving(pre_delete, BIGINT.segment) as seen, CaptureQueriesContext(connection) as ctx:
        result = segment.delete()
    assert seen == [key]
    assert result == (1, {BIGINT.segment._meta.label: 1})
    assert segment.pk is None
    assert not BIGINT.segment.all_objects.filter(pk=key).exists()
    assert not any(f'WHERE "id" = {key}' in sql for sql in sent(ctx)), "\n".join(sent(ctx))


def test_a_refused_hard_segment_delete_keeps_the_row_and_the_key() -> None:
    """Removing a segment of a tiled span leaves a gap: the check in the same string
    refuses it, the savepoint takes the DELETE back, and the instance keeps its key."""
    span = build(DATE, 5)
    segment = span.first_segment
    key = segment.pk
    with pytest.raises(SegmentsError) as info, CaptureQueriesContext(connection) as ctx:
        segment.delete()
    assert info.value.invariant in {"tiling", "gaps"}
    (string,) = sent(ctx)
    assert f'; DELETE FROM "{DATE.seg_table}" WHERE "id" = {key}; SET CONSTRAINTS' in string, string
    assert segment.pk == key
    assert DATE.segment.all_objects.filter(pk=key).exists()
    assert_valid(DATE)


@pytest.mark.parametrize("name", ["span.append", "segment.insert"])
def test_a_pre_save_receiver_that_queries_first_gets_the_lock_before_it(name) -> None:
    """The lock (and insert's cut) travel with the new segment's INSERT; when a ``pre_save``
    receiver sends a query first, they are sent before that query and the check after."""
    span = build(INT, 5)
    call = OPERATIONS[name](INT, span, 5)
    seen: list[bool] = []

    def receiver(sender: Any, instance: Any, **kwargs: Any) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 'receiver', %s", [instance.segment_range.lower])
            seen.append(cursor.fetchone()[1] == instance.segment_range.lower)

    pre_save.connect(receiver, sender=INT.segment)
    try:
        with CaptureQueriesContext(connection) as ctx:
            call()
    finally:
        pre_save.disconnect(receiver, sender=INT.segment)
    assert seen == [True]
    strings = sent(ctx)
    receiver_at = next(i for i, sql in enumerate(strings) if "'receiver'" in sql)
    assert "FOR NO KEY UPDATE" in strings[receiver_at - 1]
    assert strings[receiver_at + 1].startswith(f'INSERT INTO "{INT.seg_table}"')
    assert "IMMEDIATE; SET CONSTRAINTS" in strings[-1]
    assert_valid(INT)


def test_a_plain_save_of_a_new_segment_is_one_round_trip() -> None:
    """[lock, INSERT, check]; an update is [lock, UPDATE], [check] (a save may insert
    after its UPDATE, so the check waits for the block's end)."""
    span = build(BIGINT, 5)
    span.shift_upper_to_value(BIGINT.v(100))
    with CaptureQueriesContext(connection) as ctx:
        segment = BIGINT.segment.objects.create(span=span, segment_range=BIGINT.r(50, 60))
    assert counts(ctx) == (4, 1), "\n".join(sent(ctx))
    segment.label = "changed"
    with CaptureQueriesContext(connection) as ctx:
        segment.save()
    assert counts(ctx) == (4, 2), "\n".join(sent(ctx))
    assert BIGINT.segment.objects.get(pk=segment.pk).label == "changed"


def test_a_save_that_updates_nothing_then_inserts_is_checked_after_the_insert() -> None:
    """A new instance with a key of its own: Django tries an UPDATE, then INSERTs. The
    check must come after the INSERT, so a segment outside its span is refused at once."""
    span = build(BIGINT, 5)
    key = BIGINT.segment.objects.order_by("-pk").first().pk + 1000
    outside = BIGINT.segment(pk=key, span=span, segment_range=BIGINT.r(500, 510))
    with CaptureQueriesContext(connection) as ctx, pytest.raises(ContainmentError):
        outside.save()
    strings = sent(ctx)
    assert strings[0].startswith("SELECT 1 FROM"), strings
    assert "; UPDATE" in strings[0], strings
    assert strings[1].startswith("INSERT INTO"), strings
    assert "IMMEDIATE" in strings[2], strings
    assert not BIGINT.segment.objects.filter(pk=key).exists()


def test_insert_outside_the_span_inside_defer_checks_is_refused_as_such() -> None:
    """In `defer_checks` no check travels with the insert: the span row read with the
    lock refuses the range, and the block rolls back."""
    span = build(BIGINT, 5)
    before = list(BIGINT.segment.objects.filter(span=span).values_list("pk", "segment_range"))
    with pytest.raises(IncorrectSegmentRangeError, match="must lie inside span"), defer_checks():
        BIGINT.segment.insert(span=span, segment_range=BIGINT.r(8, 2000))
    assert list(BIGINT.segment.objects.filter(span=span).values_list("pk", "segment_range")) == before


def test_an_insert_refused_for_another_reason_keeps_the_checks_error() -> None:
    """A segment outside the span written earlier in the transaction (raw SQL, checks
    deferred) makes the insert's check fail although the inserted range is inside."""
    span = build(BIGINT, 5)
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE "{BIGINT.seg_table}" SET segment_range = %s WHERE id = %s',
            [BIGINT.r(500, 510), span.last_segment.pk],
        )
    with pytest.raises(ContainmentError, match="outside the span range"):
        BIGINT.segment.insert(span=span, segment_range=BIGINT.r(1, 2))
    with connection.cursor() as cursor:  # leave the test's transaction valid
        cursor.execute(f'DELETE FROM "{BIGINT.seg_table}" WHERE span_id = %s', [span.pk])


def test_a_save_that_writes_nothing_still_locks_and_checks() -> None:
    """``save(update_fields=[])`` sends no write: the lock and the check go on their own."""
    span = build(BIGINT, 5)
    segment = span.first_segment
    with CaptureQueriesContext(connection) as ctx:
        segment.save(update_fields=[])
    strings = sent(ctx)
    assert len(strings) == 2, strings
    assert strings[0].startswith("SELECT 1 FROM"), strings
    assert "FOR NO KEY UPDATE" in strings[0]
    assert strings[1].startswith("SET CONSTRAINTS"), strings


def test_a_hard_span_delete_is_one_round_trip_with_djangos_result() -> None:
    """The segments' ``DELETE`` and the span's travel in one string; the result is what
    Django's collector returns."""
    span = build(BIGINT, 5)
    key = span.pk
    empty = BIGINT.span.objects.create(current_range=BIGINT.r(0, 10))
    with CaptureQueriesContext(connection) as ctx:
        result = span.delete()
    assert counts(ctx) == (2, 1), "\n".join(sent(ctx))
    (string,) = sent(ctx)  # both written by hand: the segments are the span's only relation
    assert string == (
        f'DELETE FROM "{BIGINT.seg_table}" WHERE "span_id" = {key};'
        f' DELETE FROM "{BIGINT.span_table}" WHERE "id" = {key}'
    )
    assert result == (6, {BIGINT.segment._meta.label: 5, BIGINT.span._meta.label: 1})
    assert span.pk is None
    assert not BIGINT.span.objects.filter(pk=key).exists()
    assert not BIGINT.segment.all_objects.filter(span_id=key).exists()
    assert empty.delete() == (1, {BIGINT.span._meta.label: 1})  # no segment: none counted
    assert_valid(BIGINT)


def test_a_hard_span_delete_with_per_segment_signals_is_left_to_the_collector() -> None:
    """A ``pre_delete`` receiver of the segments makes Django fetch and signal each one:
    the collector deletes, with the same result."""
    span = build(BIGINT, 5)
    with receiving(pre_delete, BIGINT.segment) as seen, CaptureQueriesContext(connection) as ctx:
        result = span.delete()
    assert len(seen) == 5
    assert counts(ctx)[1] >= 3, "\n".join(sent(ctx))  # read the segments, delete them, the span
    assert result == (6, {BIGINT.segment._meta.label: 5, BIGINT.span._meta.label: 1})


def test_a_hard_span_delete_sends_djangos_signals_around_its_string() -> None:
    span = build(BIGINT, 3)
    key = span.pk
    seen: list[Any] = []

    def before(sender: Any, instance: Any, origin: Any, **kwargs: Any) -> None:
        seen.append(("pre", instance.pk, origin is span, BIGINT.segment.objects.filter(span_id=key).count()))

    def after(sender: Any, instance: Any, origin: Any, **kwargs: Any) -> None:
        seen.append(("post", instance.pk, origin is span, BIGINT.segment.objects.filter(span_id=key).count()))

    pre_delete.connect(before, sender=BIGINT.span)
    post_delete.connect(after, sender=BIGINT.span)
    try:
        span.delete()
    finally:
        pre_delete.disconnect(before, sender=BIGINT.span)
        post_delete.disconnect(after, sender=BIGINT.span)
    assert seen == [("pre", key, True, 3), ("post", key, True, 0)]


@pytest.mark.parametrize("listened", [False, True], ids=["own-insert", "django-save"])
@pytest.mark.parametrize("name", ["append", "insert"])
def test_a_new_segment_comes_back_as_a_saved_instance(name, listened) -> None:
    """Inserted by the library's own statement or saved by Django (a ``post_save``
    receiver), the new segment is the same: its key and fields as stored, marked saved (a
    later ``save()`` updates it)."""
    span = build(INT, 5)
    upper = span.current_range.upper
    seen: list[Any] = []

    def receiver(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
        seen.append(created)

    if listened:
        post_save.connect(receiver, sender=INT.segment)
    try:
        with CaptureQueriesContext(connection) as ctx:
            if name == "append":
                new = span.append(delta_value=2, label="new", weight=7)
            else:
                new = INT.segment.insert(span=span, segment_range=INT.r(3, 5), label="new", weight=7)
    finally:
        post_save.disconnect(receiver, sender=INT.segment)
    assert seen == ([True] if listened else [])
    # Django's INSERT returns the key only; the library's returns every column.
    strings = "\n".join(sent(ctx))
    assert (f'RETURNING "{INT.seg_table}"."id"' in strings) is listened, strings
    assert ('RETURNING "id", "deleted_at", "label"' in strings) is not listened, strings
    stored = INT.segment.objects.get(pk=new.pk)
    assert (stored.label, stored.weight, stored.span_id) == ("new", 7, span.pk)
    assert stored.segment_range == new.segment_range
    expected = (upper, upper + 2) if name == "append" else (3, 5)
    assert (new.segment_range.lower, new.segment_range.upper) == expected
    assert new._state.adding is False
    assert new._state.db == "default"
    new.label = "changed"
    new.save()
    assert INT.segment.objects.get(pk=new.pk).label == "changed"
    assert INT.segment.objects.filter(label__in=["new", "changed"]).count() == 1
    assert_valid(INT)


def test_a_new_segment_with_a_key_of_its_own_is_saved_by_django() -> None:
    span = build(BIGINT, 5)
    key = BIGINT.segment.objects.order_by("-pk").first().pk + 1000
    new = BIGINT.segment.insert(span=span, segment_range=BIGINT.r(3, 5), id=key)
    assert new.pk == key
    assert BIGINT.segment.objects.get(pk=key).segment_range == BIGINT.r(3, 5)
    assert_valid(BIGINT)


def test_a_merge_refused_for_another_reason_keeps_the_checks_error() -> None:
    """A segment outside the span written earlier in the transaction makes the merge's
    check fail; the segment has its neighbour, so the check's error stands."""
    span = build(BIGINT, 5)
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE "{BIGINT.seg_table}" SET segment_range = %s WHERE id = %s',
            [BIGINT.r(500, 510), span.last_segment.pk],
        )
    middle = span.get_active_segments()[2]
    with pytest.raises(ContainmentError, match="outside the span range"):
        middle.merge_into_lower()
    assert BIGINT.segment.objects.filter(pk=middle.pk).exists()
    with connection.cursor() as cursor:  # leave the test's transaction valid
        cursor.execute(f'DELETE FROM "{BIGINT.seg_table}" WHERE span_id = %s', [span.pk])


def test_new_segments_get_the_values_of_djangos_save() -> None:
    """``DateSegment.created_at`` is ``auto_now_add``: set by the field's ``pre_save`` for
    the covering segment of a new span, an appended and an inserted segment, all three
    inserted by the library's own statements."""
    before = timezone.now()
    with CaptureQueriesContext(connection) as ctx:
        span = DATE.span.objects.create(current_range=DATE.r(0, 4))
        appended = span.append(delta_value=DATE.d(2))
        inserted = DATE.segment.insert(span=span, segment_range=DATE.r(1, 2))
    assert not any(f'RETURNING "{DATE.seg_table}"."id"' in sql for sql in sent(ctx)), sent(ctx)
    stored = {s.pk: s.created_at for s in DATE.segment.objects.filter(span=span)}
    assert len(stored) == 4  # the covering segment was cut in two by the insert
    assert all(created is not None and created >= before for created in stored.values())
    assert stored[appended.pk] == appended.created_at
    assert stored[inserted.pk] == inserted.created_at
    assert_valid(DATE)


def test_a_new_segment_with_a_database_default_gets_it_from_the_librarys_insert() -> None:
    """``DateTimeSegment.source`` has a ``db_default``: the library's own ``INSERT`` leaves
    the column out, as Django's ``DEFAULT`` does, and reads the value back."""
    span = DATETIME.span.objects.create(current_range=DATETIME.r(0, 10))
    with CaptureQueriesContext(connection) as ctx:
        appended = span.append(delta_value=DATETIME.d(2))
        inserted = DATETIME.segment.insert(span=span, segment_range=DATETIME.r(1, 2))
    assert not any(f'RETURNING "{DATETIME.seg_table}"."id"' in sql for sql in sent(ctx)), sent(ctx)
    inserts = [sql for sql in sent(ctx) if f'INSERT INTO "{DATETIME.seg_table}" ("deleted_at"' in sql]
    assert len(inserts) == 2, sent(ctx)
    head = f'INSERT INTO "{DATETIME.seg_table}" ("deleted_at"'
    columns = [sql.split(head)[1].split(" VALUES ")[0] for sql in inserts]
    assert all('"source"' not in listed for listed in columns), columns
    assert (appended.source, inserted.source) == ("database", "database")
    assert set(DATETIME.segment.objects.filter(span=span).values_list("source", flat=True)) == {"database"}
    assert_valid(DATETIME)


def test_a_span_save_leaves_segments_revision_to_the_database() -> None:
    """Django's UPDATE of a span leaves the column out: an instance loaded before the
    segments changed does not set the counter back (nor queue a check for nothing)."""
    span = build(BIGINT, 5)
    stale = BIGINT.span.objects.get(pk=span.pk)

    def revision() -> int:
        return BIGINT.span.all_objects.values_list("segments_revision", flat=True).get(pk=span.pk)

    before = revision()
    span.first_segment.split(BIGINT.v(1))
    after = revision()
    assert after > before  # a touch per event of the statement (an UPDATE and an INSERT)
    with CaptureQueriesContext(connection) as ctx:
        stale.save()
    assert revision() == after
    (update,) = [sql for sql in sent(ctx) if sql.startswith("UPDATE")]
    assert "segments_revision" not in update, update
    created = BIGINT.span.objects.create(current_range=BIGINT.r(0, 10))
    assert created.segments_revision == 0  # the database's default, read back on INSERT


def _fields(instance: Any) -> dict[str, Any]:
    """Every concrete field's value but the key."""
    meta = instance._meta
    return {f.attname: getattr(instance, f.attname) for f in meta.concrete_fields if f is not meta.pk}


@pytest.mark.parametrize("rt", ALL_TYPES, ids=str)
def test_a_new_span_is_the_librarys_insert_and_leaves_what_djangos_save_leaves(rt) -> None:
    """Where Django would take its plain path, the span's ``INSERT`` is written by the
    library (`operations.insert_new`): it returns what Django's would (the key and the
    database's default of ``segments_revision``), and the instance is left as Django's
    save leaves it. A ``pre_save`` receiver makes Django save the span: the two agree."""
    span_table = rt.span._meta.db_table
    with CaptureQueriesContext(connection) as ctx:
        ours = rt.span.objects.create(current_range=rt.r(0, 10))
    (string,) = sent(ctx)
    assert string.split(" RETURNING ")[-1].startswith('"id", "segments_revision"'), string
    with receiving(pre_save, rt.span) as seen, CaptureQueriesContext(connection) as ctx:
        djangos = rt.span.objects.create(current_range=rt.r(0, 10))
    assert seen == [None]
    assert any(f'RETURNING "{span_table}"."id"' in sql for sql in sent(ctx)), sent(ctx)
    assert ours.pk is not None
    assert ours.pk != djangos.pk
    assert _fields(ours) == _fields(djangos)
    assert ours.segments_revision == 0
    assert (ours._state.adding, ours._state.db) == (False, "default")
    assert (djangos._state.adding, djangos._state.db) == (False, "default")
    stored = _fields(rt.span.objects.get(pk=ours.pk))
    # The covering segment of a tiled span touches the span after its INSERT returned.
    assert stored.pop("segments_revision") == (1 if rt.tiling else 0)
    assert stored == {k: v for k, v in _fields(ours).items() if k != "segments_revision"}
    assert [s.segment_range for s in ours.get_active_segments()] == [
        s.segment_range for s in djangos.get_active_segments()
    ]
    assert_valid(rt)


def test_a_new_span_with_a_post_save_receiver_is_saved_by_django() -> None:
    """``post_save`` receivers get Django's ``created=True`` and the saved instance."""
    seen: list[Any] = []

    def receiver(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
        seen.append((created, instance.pk, instance.segments_revision))

    post_save.connect(receiver, sender=BIGINT.span)
    try:
        span = BIGINT.span.objects.create(current_range=BIGINT.r(0, 10))
    finally:
        post_save.disconnect(receiver, sender=BIGINT.span)
    assert seen == [(True, span.pk, 0)]


def test_what_only_djangos_save_does_for_a_new_span_stays_djangos() -> None:
    """A key given by the caller, ``force_update`` and ``update_fields``: Django decides
    (and refuses the last two for a row that does not exist yet)."""
    key = BIGINT.span.objects.create(current_range=BIGINT.r(0, 10)).pk + 1000
    with CaptureQueriesContext(connection) as ctx:
        given = BIGINT.span.objects.create(pk=key, current_range=BIGINT.r(0, 10))
    assert given.pk == key
    assert any(f'RETURNING "{BIGINT.span._meta.db_table}"."id"' in sql for sql in sent(ctx)), sent(ctx)
    with pytest.raises(ValueError, match="Cannot force an update"):
        BIGINT.span(current_range=BIGINT.r(0, 10)).save(force_update=True)
    with pytest.raises(ValueError, match="Cannot force an update"):
        BIGINT.span(current_range=BIGINT.r(0, 10)).save(update_fields=["current_range"])
