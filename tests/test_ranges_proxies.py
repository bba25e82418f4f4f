"""Proxy models of spans and segments: the concrete model's table, configuration, checks
and operations, under the proxy's own class (as Django's proxies are)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import checks
from django.db import connection
from django.db.models.signals import pre_save
from django.test.utils import CaptureQueriesContext

from django_segments.exceptions import SegmentsError
from django_segments.ranges.compiler import names, operations
from tests.ranges_helpers import INT, assert_valid
from tests.testapp.models import IntSegment, IntSpan, ProxyIntSegment, ProxyIntSpan

pytestmark = pytest.mark.django_db


def test_a_proxy_generates_nothing_of_its_own() -> None:
    """No fields, constraints or triggers are added to a proxy: it shares its concrete
    model's, and a span proxy keeps the span's segment model."""
    assert ProxyIntSpan._meta.concrete_model is IntSpan
    assert [f.name for f in ProxyIntSpan._meta.local_fields] == []
    assert ProxyIntSpan.segment_model() is IntSegment
    assert IntSpan.segment_model() is IntSegment  # the segment proxy did not replace it
    assert ProxyIntSegment._segment_options() is IntSegment._segment_options()
    assert operations(ProxyIntSegment) is operations(IntSegment)
    assert names(ProxyIntSegment).deferred  # the span's deferred checks, run by operations


def test_a_span_created_through_a_proxy_is_a_tiled_span_with_its_segment() -> None:
    span = ProxyIntSpan.objects.create(current_range=INT.r(0, 10))
    assert type(span) is ProxyIntSpan
    assert [s.segment_range for s in span.get_active_segments()] == [INT.r(0, 10)]
    assert IntSpan.objects.get(pk=span.pk).current_range == INT.r(0, 10)
    assert_valid(INT)


def test_operations_on_a_proxy_segment_are_checked_at_once() -> None:
    """A proxy segment's write that would leave a gap is refused by the operation's own
    check, as a typed error, not later at commit."""
    span = ProxyIntSpan.objects.create(current_range=INT.r(0, 10))
    (segment,) = ProxyIntSegment.objects.filter(span=span)
    upper = segment.split(INT.v(4))
    assert type(upper) is ProxyIntSegment
    inserted = ProxyIntSegment.insert(span=span, segment_range=INT.r(6, 8))
    assert type(inserted) is ProxyIntSegment
    assert [s.segment_range for s in span.get_active_segments()] == [
        INT.r(0, 4),
        INT.r(4, 6),
        INT.r(6, 8),
        INT.r(8, 10),
    ]
    segment.refresh_from_db()
    segment.segment_range = INT.r(0, 3)
    with pytest.raises(SegmentsError) as info:
        segment.save()
    assert info.value.invariant in {"tiling", "gaps"}
    assert_valid(INT)


def test_save_signals_are_sent_for_the_proxy_and_django_saves_then() -> None:
    """Django sends a proxy's save signals with the proxy as sender; a receiver there
    makes Django save the row (the library's own INSERT is only for unlistened saves)."""
    seen: list[Any] = []

    def receiver(sender: Any, instance: Any, **kwargs: Any) -> None:
        seen.append((sender, instance.pk))

    pre_save.connect(receiver, sender=ProxyIntSpan)
    try:
        with CaptureQueriesContext(connection) as ctx:
            span = ProxyIntSpan.objects.create(current_range=INT.r(0, 10))
    finally:
        pre_save.disconnect(receiver, sender=ProxyIntSpan)
    assert seen == [(ProxyIntSpan, None)]
    assert any(f'RETURNING "{IntSpan._meta.db_table}"."id"' in q["sql"] for q in ctx.captured_queries)
    assert span.pk is not None
    assert [s.segment_range for s in span.get_active_segments()] == [INT.r(0, 10)]


def test_checks_pass_for_proxies() -> None:
    """The system checks (models and database) raise nothing about the proxies."""
    found = checks.run_checks(include_deployment_checks=False, databases=["default"])
    about = [m for m in found if getattr(m, "obj", None) in {ProxyIntSpan, ProxyIntSegment}]
    assert about == []
