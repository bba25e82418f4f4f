"""`wire.Frame`: an operation's transaction travels in its own strings.

Inside a transaction the string starts with ``SAVEPOINT`` and ends with the check and
``RELEASE``; a failure rolls back to the savepoint and the transaction goes on. Rows the
statement returns become instances through the fields' converters.
"""

from __future__ import annotations

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from django_segments.exceptions import ContainmentError
from django_segments.ranges import wire
from tests.ranges_helpers import BIGINT, INT, active, assert_valid, make_span

pytestmark = pytest.mark.django_db


def test_a_refused_operation_rolls_back_to_its_savepoint_and_the_transaction_goes_on() -> None:
    span = make_span(INT, 0, 6, (2, 4))
    last = span.last_segment
    with CaptureQueriesContext(connection) as ctx, pytest.raises(ContainmentError):
        last.shift_upper_by_value(1)  # the check in its second string refuses it
    strings = [q["sql"] for q in ctx.captured_queries]
    assert strings[-1] == (
        'ROLLBACK TO SAVEPOINT "django_segments_operation"; RELEASE SAVEPOINT "django_segments_operation"'
    )
    assert active(INT, span) == [(0, 2), (2, 4), (4, 6)]  # the transaction is usable
    assert_valid(INT)


def test_an_operation_that_does_not_apply_needs_no_rollback() -> None:
    """Its statement writes nothing; the string releases its savepoint as usual."""
    segment = make_span(INT, 0, 6).first_segment
    with CaptureQueriesContext(connection) as ctx, pytest.raises(Exception, match="strictly inside"):
        segment.split(6)
    assert not any("ROLLBACK" in q["sql"] for q in ctx.captured_queries)
    assert active(INT, segment.span) == [(0, 6)]


def test_rows_written_come_back_through_the_fields_converters() -> None:
    """Instances are built from returned rows with Django's converters, once per
    connection and model."""
    span = make_span(BIGINT, 0, 12)
    wrapper = connections["default"]
    names, compiler, converters = wire._converters(BIGINT.segment, wrapper)
    assert wire._converters(BIGINT.segment, wrapper)[1] is compiler
    assert names == [f.attname for f in BIGINT.segment._meta.concrete_fields]
    label = names.index("label")
    expression = BIGINT.segment._meta.get_field("label").get_col(BIGINT.seg_table)
    shout = {label: ([lambda value, expression, connection: f"{value}!"], expression)}
    cache = wire._CONVERTERS[wrapper]
    cache[BIGINT.segment] = (names, compiler, shout)
    try:
        segment = span.first_segment
        segment.label = "x"
        segment.save()
        upper = segment.split(BIGINT.v(1))
    finally:
        cache[BIGINT.segment] = (names, compiler, converters)
    assert (segment.label, upper.label) == ("x!", "x!")
