"""Wrong span / segment declarations fail where they are declared, naming what is wrong."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.contrib.postgres.fields import DateRangeField, IntegerRangeField
from django.db import models
from django.test.utils import isolate_apps
from pgtrigger import registry as pgtrigger_registry

import django_segments as ds
from django_segments.exceptions import (
    IncorrectRangeTypeError,
    IncorrectSubclassError,
    InvalidRangeFieldNameError,
    RangeConfigurationError,
    SegmentRelationshipError,
)
from django_segments.ranges.kinds import KINDS
from tests.testapp.models import IntSpan

#: The isolated registry's app: an importable module whose label no real app uses.
APP = "tests"
isolated = isolate_apps(APP)


@pytest.fixture(autouse=True)
def forget_registered_triggers():
    """Valid segment models register pgtrigger triggers globally; unregister them after the test."""
    before = set(pgtrigger_registry._registry)
    yield
    for uri in set(pgtrigger_registry._registry) - before:
        pgtrigger_registry.delete(uri)


def span_model(name: str = "GoodSpan", **config: object) -> type:
    """Declare a span model in the isolated app."""
    attrs = {"__module__": __name__, "Meta": type("Meta", (), {"app_label": APP})}
    attrs["SpanConfig"] = type("SpanConfig", (), config)
    return type(name, (ds.AbstractSpan,), attrs)


def segment_model(name: str = "GoodSegment", extra: dict | None = None, **config: object) -> type:
    """Declare a segment model in the isolated app."""
    attrs = {"__module__": __name__, "Meta": type("Meta", (), {"app_label": APP}), **(extra or {})}
    attrs["SegmentConfig"] = type("SegmentConfig", (), config)
    return type(name, (ds.AbstractSegment,), attrs)


@isolated
def test_missing_range_field_type() -> None:
    with pytest.raises(IncorrectRangeTypeError, match=r"NoType\.SpanConfig\.range_field_type is required"):
        span_model("NoType")
    with pytest.raises(IncorrectRangeTypeError, match="is required"):
        type(
            "NoConfig",
            (ds.AbstractSpan,),
            {"__module__": __name__, "Meta": type("Meta", (), {"app_label": APP})},
        )


@isolated
@pytest.mark.parametrize(
    ("value", "shown"),
    [("float", "'float'"), (models.CharField, "CharField"), (42, "42"), ("Integer", "'Integer'")],
)
def test_wrong_range_field_type(value, shown) -> None:
    with pytest.raises(
        IncorrectRangeTypeError, match=r"WrongType\.SpanConfig\.range_field_type must be one of"
    ) as info:
        span_model("WrongType", range_field_type=value)
    assert f"got {shown}" in str(info.value)
    assert isinstance(info.value, RangeConfigurationError)


@isolated
@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_short_name_and_field_class_is_accepted(name) -> None:
    by_name = span_model(f"Span{name.title().replace('_', '')}", range_field_type=name)
    assert by_name._span_options_value.kind.name == name
    field_class = KINDS[name].field_class
    by_class = span_model(f"Cls{name.title().replace('_', '')}", range_field_type=field_class)
    assert isinstance(by_class._meta.get_field("current_range"), field_class)


@isolated
def test_range_field_subclass_is_accepted() -> None:
    class MyDateRange(DateRangeField):
        pass

    span = span_model("SubclassSpan", range_field_type=MyDateRange)
    assert span._span_options_value.kind.name == "date"
    assert type(span._meta.get_field("initial_range")) is MyDateRange


@isolated
def test_span_defaults_come_from_settings(settings) -> None:
    settings.SEGMENTS_ALLOW_SPAN_GAPS = False
    settings.SEGMENTS_SOFT_DELETE = False
    options = span_model("Defaults", range_field_type="integer")._span_options_value
    assert (options.allow_span_gaps, options.allow_segment_gaps, options.soft_delete) == (False, True, False)


@isolated
def test_missing_span_model() -> None:
    with pytest.raises(SegmentRelationshipError, match=r"Orphan\.SegmentConfig\.span_model is required"):
        segment_model("Orphan")


@isolated
@pytest.mark.parametrize(
    "target",
    [User, "auth.User", "testapp.Nope", "nonsense", 7],
    ids=["plain-model", "plain-model-label", "unknown-label", "no-dot", "int"],
)
def test_span_model_that_is_not_a_span(target) -> None:
    with pytest.raises(SegmentRelationshipError, match=r"NotSpan\.SegmentConfig\.span_model"):
        segment_model("NotSpan", span_model=target)


@isolated
def test_abstract_span_model_is_refused() -> None:
    with pytest.raises(
        SegmentRelationshipError,
        match=r"OnAbstract\.SegmentConfig\.span_model must not be abstract; got AbstractSpan",
    ):
        segment_model("OnAbstract", span_model=ds.AbstractSpan)


@isolated
@pytest.mark.parametrize("on_delete", [models.CASCADE, models.PROTECT, models.RESTRICT, models.SET_DEFAULT])
def test_previous_field_on_delete_must_not_delete_or_block(on_delete) -> None:
    span = span_model("PrevSpan", range_field_type="integer")
    with pytest.raises(
        SegmentRelationshipError, match="previous_field_on_delete must be SET_NULL or DO_NOTHING"
    ):
        segment_model("PrevSegment", span_model=span, previous_field_on_delete=on_delete)


@isolated
@pytest.mark.parametrize("on_delete", [models.SET_NULL, models.DO_NOTHING])
def test_previous_field_on_delete_accepted_values(on_delete) -> None:
    span = span_model("OkSpan", range_field_type="integer")
    segment = segment_model("OkSegment", span_model=span, previous_field_on_delete=on_delete)
    # previous_segment is read from range order: no column, so nothing can cascade.
    assert "previous_segment" not in {f.name for f in segment._meta.get_fields()}
    assert span.segment_model() is segment


def test_a_span_has_at_most_one_segment_model() -> None:
    with (
        isolate_apps(APP),
        pytest.raises(SegmentRelationshipError, match="already has the segment model IntSegment"),
    ):
        segment_model("SecondIntSegment", span_model=IntSpan)


@isolated
@pytest.mark.parametrize("name", ["segment_range", "span", "previous_segment"])
def test_declaring_a_generated_segment_field_is_refused(name) -> None:
    span = span_model("OwnSpan", range_field_type="integer")
    field = IntegerRangeField() if name == "segment_range" else models.IntegerField(null=True)
    with pytest.raises(
        InvalidRangeFieldNameError, match=rf"OwnSegment\.{name} is generated by django-segments"
    ):
        segment_model("OwnSegment", extra={name: field}, span_model=span)


@isolated
@pytest.mark.parametrize("name", ["initial_range", "current_range"])
def test_declaring_a_generated_span_field_is_refused(name) -> None:
    attrs = {
        "__module__": __name__,
        "Meta": type("Meta", (), {"app_label": APP}),
        "SpanConfig": type("SpanConfig", (), {"range_field_type": "integer"}),
        name: IntegerRangeField(),
    }
    with pytest.raises(InvalidRangeFieldNameError, match=rf"OwnRange\.{name} is generated"):
        type("OwnRange", (ds.AbstractSpan,), attrs)


@isolated
def test_multi_table_inheritance_from_a_concrete_model_is_refused_and_a_proxy_is_not() -> None:
    span = span_model("BaseSpan", range_field_type="integer")
    segment = segment_model("BaseSegment", span_model=span)

    def child(name: str, base: type, **meta: object) -> type:
        attrs = {"__module__": __name__, "Meta": type("Meta", (), {"app_label": APP, **meta})}
        return type(name, (base,), attrs)

    with pytest.raises(
        IncorrectSubclassError, match=r"ChildSpan inherits from the concrete span model BaseSpan .* proxy"
    ):
        child("ChildSpan", span)
    with pytest.raises(
        IncorrectSubclassError, match=r"ChildSegment inherits from the concrete segment model BaseSegment"
    ):
        child("ChildSegment", segment)
    assert span.segment_model() is segment  # the refused segment did not replace it
    proxy = child("ProxySpan", span, proxy=True)
    assert proxy.segment_model() is segment
    assert child("ProxySegment", segment, proxy=True)._segment_options() is segment._segment_options()


def test_abstract_models_report_missing_configuration() -> None:
    with pytest.raises(IncorrectSubclassError, match="AbstractSpan is abstract or not a configured span"):
        ds.AbstractSpan._span_options()
    with pytest.raises(IncorrectSubclassError, match="AbstractSegment is abstract"):
        ds.AbstractSegment._segment_options()


@isolated
def test_span_without_segment_model() -> None:
    span = span_model("Lonely", range_field_type="date")
    with pytest.raises(SegmentRelationshipError, match="Lonely has no segment model"):
        span.segment_model()


@isolated
def test_segment_soft_delete_defaults_to_the_span_setting() -> None:
    soft = span_model("SoftSpan", range_field_type="integer", soft_delete=True)
    hard = span_model("HardSpan", range_field_type="integer", soft_delete=False)
    assert segment_model("SoftSeg", span_model=soft)._segment_options_value.soft_delete is True
    assert segment_model("HardSeg", span_model=hard)._segment_options_value.soft_delete is False
    overridden = segment_model(
        "OverSeg", span_model=span_model("S3", range_field_type="integer"), soft_delete=False
    )
    assert overridden._segment_options_value.soft_delete is False


@isolated
def test_generated_schema_objects_follow_the_table_name() -> None:
    span = span_model("NamedSpan", range_field_type="decimal")
    segment = segment_model("NamedSegment", span_model=span)
    table = segment._meta.db_table
    assert table == f"{APP}_namedsegment"
    names = {c.name for c in segment._meta.constraints}
    assert names == {f"{table}_no_overlap", f"{table}_segment_range_valid"}
    assert {c.name for c in span._meta.constraints} == {
        f"{APP}_namedspan_initial_range_valid",
        f"{APP}_namedspan_current_range_valid",
    }
    assert all(len(name) <= 63 for name in names)


@isolated
def test_configuration_errors_are_incorrect_subclass_errors_as_in_the_reference_design() -> None:
    with pytest.raises(IncorrectSubclassError, match="span_model is required"):
        segment_model("NoSpanModel")
    with pytest.raises(IncorrectSubclassError, match="must be a concrete subclass of AbstractSpan"):
        segment_model("WrongSpanModel", span_model=User)


@isolated
def test_span_model_may_be_an_attribute_of_the_segment_model() -> None:
    span = span_model("AttrSpan", range_field_type="integer")
    attrs = {"__module__": __name__, "Meta": type("Meta", (), {"app_label": APP}), "span_model": span}
    segment = type("AttrSegment", (ds.AbstractSegment,), attrs)
    assert segment._segment_options_value.span_model is span
    assert span.segment_model() is segment


@isolated
def test_segment_config_wins_over_an_attribute_of_the_model() -> None:
    first = span_model("FirstSpan", range_field_type="integer")
    second = span_model("SecondSpan", range_field_type="integer")
    segment = segment_model("BothSegment", extra={"span_model": first}, span_model=second)
    assert segment._segment_options_value.span_model is second


@isolated
def test_span_related_names_are_honoured() -> None:
    span = span_model("NamedSpan", range_field_type="integer")
    segment = segment_model(
        "NamedSegment", span_model=span, span_related_name="pieces", span_related_query_name="piece"
    )
    field = segment._meta.get_field("span")
    assert field.remote_field.related_name == "pieces"
    assert field.remote_field.related_query_name == "piece"
    assert hasattr(span, "pieces")
    assert span._meta.get_field("piece").related_model is segment


@isolated
def test_the_default_related_name_is_segments() -> None:
    span = span_model("DefaultNameSpan", range_field_type="integer")
    segment = segment_model("DefaultNameSegment", span_model=span)
    assert segment._meta.get_field("span").remote_field.related_name == "segments"
    assert span._meta.get_field("segments").related_model is segment
