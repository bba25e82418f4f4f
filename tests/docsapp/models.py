"""The models of the quick start (docs/quickstart.md, "Declare a span and its segments"),
as written there: the guide's pages use them. The app has no migrations: the examples'
test creates its tables and drops them afterwards."""

from django.db import models

import django_segments as ds


class Subscription(ds.AbstractSpan):
    customer = models.CharField(max_length=100)

    class SpanConfig:
        range_field_type = "date"
        allow_span_gaps = False  # periods cover the whole subscription
        allow_segment_gaps = False  # with no holes between them


class PlanPeriod(ds.AbstractSegment):
    plan = models.CharField(max_length=20, default="basic")

    class SegmentConfig:
        span_model = Subscription
