"""The exact statements each operation sends: a regression guard for round trips.

`test_ranges_statements` checks that counts do not grow with the span; this pins them,
so an extra re-read or a statement executed twice shows up here. An operation sends one
string (segment shifts: two) that carries its own frame: ``SAVEPOINT`` ... ``RELEASE``
inside a transaction, nothing in autocommit (the string is its own transaction). Plain
``save()`` and ``delete()`` are Django's, between the span's lock and the check.
"""

from __future__ import annotations

import re
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
from tests.ranges_helpers import BIGINT, DATE, DATETIME, INT, assert_valid
from tests.test_ranges_statements import OPERATIONS, build

pytestmark = pytest.mark.django_db

#: (SQL statements, round trips) besides transaction control. "lock" is the span row;
#: "check" is finalize's two statements (SET CONSTRAINTS ... IMMEDIATE; ... DEFERRED).
#: Brackets show what travels in one round trip.
EXPECTED = {
    "span.append": (4, 1),  # [lock, one statement extends the span and inserts, check]
    "span.shift_by_value": (5, 1),  # [lock, span (returning its range), segments, check]
    "span.shift_lower_to_value": (4, 1),  # [lock, one statement moves, removes and clips, check]
    "span.shift_upper_by_value": (4, 1),
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
    """The SQL strings captured (one per round trip), without transaction control (an
    operation's own savepoint travels in its string)."""
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
    strings = [q["sql"] for q in ctx.captured_queries]
    assert len(strings) == EXPECTED[name][1], strings  # no string of its own for the savepoint
    assert strings[0].startswith('SAVEPOINT "django_segments_operation"; '), strings[0]
    assert strings[-1].endswith('; RELEASE SAVEPOINT "django_segments_operation"'), strings[-1]


@pytest.mark.django_db(transaction=True)
def test_in_autocommit_an_operation_is_its_own_transaction() -> None:
    """Outside a transaction the one string is the operation's transaction (its commit
    runs the checks): no BEGIN, COMMIT, savepoint or SET CONSTRAINTS. A segment shift, two
    strings, sends BEGIN with the first and COMMIT with the last."""
    span = build(INT, 5)
    segment = span.get_active_segments()[2]  # [4, 6)
    with CaptureQueriesContext(connection) as ctx:
        segment.split(INT.v(5))
    (string,) = [q["sql"] for q in ctx.captured_queries]
    assert string.startswith("SELECT lower(current_range)"), string
    assert "SAVEPOINT" not in string
    assert "SET CONSTRAINTS" not in string
    with CaptureQueriesContext(connection) as ctx:
        segment.shift_lower_by_value(INT.d(-1))
    first, second = (q["sql"] for q in ctx.captured_queries)
    assert first.startswith("BEGIN; SELECT lower(current_range)"), first
    assert second.endswith("; COMMIT"), second
    assert_valid(INT)
    last = span.last_segment
    with pytest.raises(ContainmentError), CaptureQueriesContext(connection) as ctx:
        last.shift_upper_by_value(INT.d(1))  # leaves the span: refused at COMMIT
    assert ctx.captured_queries[-1]["sql"] == "ROLLBACK"
    assert span.last_segment.segment_range == last.segment_range
    assert_valid(INT)


@pytest.mark.parametrize("rt", [INT, BIGINT], ids=str)
def test_statements_to_create_a_span(rt) -> None:
    """Django saves the span and, for a tiling span, the covering segment (in a savepoint).
    A key the database assigns cannot have segments yet, so the check is left to commit,
    and a span without a covering segment is one INSERT, with no savepoint."""
    with CaptureQueriesContext(connection) as ctx:
        span = rt.span.objects.create(current_range=rt.r(0, 10))
    assert counts(ctx) == ((2, 2) if rt.tiling else (1, 1)), "\n".join(sent(ctx))
    assert len(ctx.captured_queries) == (4 if rt.tiling else 1)
    assert [(s.segment_range.lower, s.segment_range.upper) for s in span.get_active_segments()] == (
        [(rt.v(0), rt.v(10))] if rt.tiling else []
    )
    assert_valid(rt)


@pytest.mark.parametrize(
    "signal", [pre_save, post_save, signals.segment_pre_create, signals.segment_post_create]
)
def test_the_first_segment_is_saved_by_django(signal) -> None:
    """Its save signals are sent with the span saved and the segment as Django saves it:
    an ``INSERT`` of its own, after the span's, whoever listens."""
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


@pytest.mark.parametrize(("rt", "expected"), [(INT, (4, 3)), (BIGINT, (3, 2))], ids=str)
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
    allowed, the delete is the lock and Django's delete, nothing else."""
    span = build(BIGINT, 5)
    segment = span.first_segment
    key = segment.pk
    with CaptureQueriesContext(connection) as ctx:
        segment.delete()
    assert not any("SET CONSTRAINTS" in sql for sql in sent(ctx)), "\n".join(sent(ctx))
    assert counts(ctx) == (2, 2)  # [lock], [DELETE]
    assert not BIGINT.segment.all_objects.filter(pk=key).exists()


def test_a_hard_segment_delete_is_djangos_after_the_lock() -> None:
    """The lock, then Django's ``DELETE``; the result and the instance are what Django's
    delete leaves."""
    span = build(BIGINT, 5)
    segment = span.first_segment
    key = segment.pk
    with CaptureQueriesContext(connection) as ctx:
        result = segment.delete()
    lock, delete = sent(ctx)
    assert lock.endswith("FOR NO KEY UPDATE"), lock
    assert delete.startswith(f'DELETE FROM "{BIGINT.seg_table}"'), delete
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
    assert sent(ctx)[0].endswith("FOR NO KEY UPDATE"), sent(ctx)


def test_a_refused_hard_segment_delete_keeps_the_row_and_the_key() -> None:
    """Removing a segment of a tiled span leaves a gap: the check after Django's DELETE
    refuses it, the savepoint takes the DELETE back, and the instance keeps its key."""
    span = build(DATE, 5)
    segment = span.first_segment
    key = segment.pk
    with pytest.raises(SegmentsError) as info, CaptureQueriesContext(connection) as ctx:
        segment.delete()
    assert info.value.invariant in {"tiling", "gaps"}
    assert sent(ctx)[-1].startswith("SET CONSTRAINTS"), sent(ctx)
    assert segment.pk == key
    assert DATE.segment.all_objects.filter(pk=key).exists()
    assert_valid(DATE)


def shape(strings: list[str]) -> list[str]:
    """SQL strings with their numbers taken out (keys differ from one span to the next)."""
    return [re.sub(r"\d+", "N", sql) for sql in strings]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_connecting_djangos_model_signals_changes_no_sql(name) -> None:
    """Operations do not call Django's save() or delete(): a receiver of Django's model
    signals is not called, and the operation sends the same strings."""
    call = OPERATIONS[name](INT, build(INT, 5), 5)
    with CaptureQueriesContext(connection) as ctx:
        call()
    seen: list[Any] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append(sender)

    listened = build(INT, 5)
    model_signals = [pre_save, post_save, pre_delete, post_delete]
    for signal in model_signals:
        for model in (INT.span, INT.segment):
            signal.connect(receiver, sender=model)
    try:
        call = OPERATIONS[name](INT, listened, 5)
        with CaptureQueriesContext(connection) as with_receivers:
            call()
    finally:
        for signal in model_signals:
            for model in (INT.span, INT.segment):
                signal.disconnect(receiver, sender=model)
    assert seen == []
    assert shape(sent(with_receivers)) == shape(sent(ctx))
    assert_valid(INT)


def test_a_plain_save_is_djangos_between_the_lock_and_the_check() -> None:
    """[lock], [Django's INSERT or UPDATE], [check], in Django's savepoint."""
    span = build(BIGINT, 5)
    span.shift_upper_to_value(BIGINT.v(100))
    with CaptureQueriesContext(connection) as ctx:
        segment = BIGINT.segment.objects.create(span=span, segment_range=BIGINT.r(50, 60))
    assert counts(ctx) == (4, 3), "\n".join(sent(ctx))
    assert sent(ctx)[1].startswith(f'INSERT INTO "{BIGINT.seg_table}"'), sent(ctx)
    segment.label = "changed"
    with CaptureQueriesContext(connection) as ctx:
        segment.save()
    assert counts(ctx) == (4, 3), "\n".join(sent(ctx))
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
    assert strings[0].endswith("FOR NO KEY UPDATE"), strings
    assert strings[1].startswith("UPDATE"), strings
    assert strings[2].startswith("INSERT INTO"), strings
    assert "IMMEDIATE" in strings[3], strings
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
    assert strings[0].endswith("FOR NO KEY UPDATE"), strings
    assert strings[1].startswith("SET CONSTRAINTS"), strings


def test_a_hard_span_delete_is_djangos_after_the_lock() -> None:
    """The lock with the read of the segments (for their signals) in one string, then
    Django's collector deletes the segments and the span; the result is what it returns."""
    span = build(BIGINT, 5)
    key = span.pk
    empty = BIGINT.span.objects.create(current_range=BIGINT.r(0, 10))
    with CaptureQueriesContext(connection) as ctx:
        result = span.delete()
    lock, *deletes = sent(ctx)
    locked, segments = lock.split("; ")
    assert locked.endswith("FOR NO KEY UPDATE"), lock
    assert segments.startswith("SELECT "), lock
    assert f'FROM "{BIGINT.seg_table}"' in segments, lock
    assert [sql.split(" WHERE ")[0] for sql in deletes] == [
        f'DELETE FROM "{BIGINT.seg_table}"',
        f'DELETE FROM "{BIGINT.span_table}"',
    ]
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


@pytest.mark.parametrize("listened", [False, True], ids=["quiet", "post_save-receiver"])
@pytest.mark.parametrize("name", ["append", "insert"])
def test_a_new_segment_comes_back_as_a_saved_instance(name, listened) -> None:
    """Inserted by the operation's own statement (whoever listens to Django's
    ``post_save``: the operation does not call ``save()``), the new segment comes back
    with its key and fields as stored, marked saved (a later ``save()`` updates it)."""
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
    assert seen == []
    (string,) = sent(ctx)
    assert 'RETURNING "id", "deleted_at", "label"' in string, string
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


def test_a_new_segment_with_a_key_of_its_own_is_inserted_with_it() -> None:
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
    the last two inserted by the operations' own statements."""
    before = timezone.now()
    span = DATE.span.objects.create(current_range=DATE.r(0, 4))
    appended = span.append(delta_value=DATE.d(2))
    inserted = DATE.segment.insert(span=span, segment_range=DATE.r(1, 2))
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
    columns = re.findall(rf'INSERT INTO "{DATETIME.seg_table}" \(([^)]*)\)', "\n".join(sent(ctx)))
    # append's new segment, the piece insert cuts off (a copy of the row it cuts) and
    # insert's new segment
    assert columns == [
        '"span_id", "segment_range"',
        '"span_id", "segment_range", "source"',
        '"span_id", "segment_range"',
    ]
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
