"""Models of the test app: a span and a segment model for every range type.

| span | range | span gaps | segment gaps | soft delete |
|---|---|---|---|---|
| IntSpan | integer | no | no | yes |
| BigIntSpan | big_integer | yes | yes | no |
| DecimalSpan | decimal | yes | no | yes |
| DateSpan | date | no | no | no |
| DateTimeSpan | datetime | yes | yes | yes |

`DateSegment.created_at` (`auto_now_add`) and `DateTimeSegment.source` (`db_default`) check
that new segments get the values Django's save would give them. `ProxyIntSpan` and
`ProxyIntSegment` are proxies of the integer models.
"""

from django.db import models

import django_segments as ds


class IntSpan(ds.AbstractSpan):
    name = models.CharField(max_length=50, blank=True)

    class SpanConfig:
        range_field_type = "integer"
        allow_span_gaps = False
        allow_segment_gaps = False
        soft_delete = True


class IntSegment(ds.AbstractSegment):
    label = models.CharField(max_length=50, blank=True)
    weight = models.IntegerField(default=1)

    class SegmentConfig:
        span_model = IntSpan


class BigIntSpan(ds.AbstractSpan):
    class SpanConfig:
        range_field_type = "big_integer"
        allow_span_gaps = True
        allow_segment_gaps = True
        soft_delete = False


class BigIntSegment(ds.AbstractSegment):
    label = models.CharField(max_length=50, blank=True)

    class SegmentConfig:
        span_model = BigIntSpan


class DecimalSpan(ds.AbstractSpan):
    class SpanConfig:
        range_field_type = "decimal"
        allow_span_gaps = True
        allow_segment_gaps = False
        soft_delete = True


class DecimalSegment(ds.AbstractSegment):
    class SegmentConfig:
        span_model = DecimalSpan


class DateSpan(ds.AbstractSpan):
    class SpanConfig:
        range_field_type = "date"
        allow_span_gaps = False
        allow_segment_gaps = False
        soft_delete = False


class DateSegment(ds.AbstractSegment):
    note = models.TextField(default="", blank=True)
    # Set by the field's pre_save: a new segment the library inserts itself gets it too.
    created_at = models.DateTimeField(auto_now_add=True, null=True)

    class SegmentConfig:
        span_model = DateSpan


class DateTimeSpan(ds.AbstractSpan):
    class SpanConfig:
        range_field_type = "datetime"
        allow_span_gaps = True
        allow_segment_gaps = True
        soft_delete = True


class DateTimeSegment(ds.AbstractSegment):
    # A database default: Django inserts new segments of this model (the library's own
    # INSERT does not take expressions).
    source = models.CharField(max_length=20, db_default="database")

    class SegmentConfig:
        span_model = DateTimeSpan


class ProxyIntSpan(IntSpan):
    """A proxy of a span model: its table, configuration and segment model are IntSpan's."""

    class Meta:
        proxy = True


class ProxyIntSegment(IntSegment):
    """A proxy of a segment model: operations on it are IntSegment's, checked alike."""

    class Meta:
        proxy = True
