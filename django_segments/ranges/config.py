"""Per-model configuration: `SpanConfig` and `SegmentConfig` inner classes.

Declare them inside a concrete model (subclassing these is optional)::

    class Contract(ds.AbstractSpan):
        class SpanConfig:
            range_field_type = "date"
            allow_span_gaps = False

Unset options take the global defaults from settings (`django_segments.conf`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models

from django_segments import conf
from django_segments.exceptions import SegmentRelationshipError
from django_segments.ranges.kinds import RangeKind, resolve_kind


class SpanConfig:
    """Options of a span model.

    Attributes:
        range_field_type: required; ``"integer"``, ``"big_integer"``, ``"decimal"``,
            ``"date"``, ``"datetime"`` or a range field class.
        allow_span_gaps: may segments leave parts of the span uncovered at its ends (and,
            with no segments at all, the whole span)? Default ``SEGMENTS_ALLOW_SPAN_GAPS``.
        allow_segment_gaps: may there be gaps between consecutive segments? Default
            ``SEGMENTS_ALLOW_SEGMENT_GAPS``.
        soft_delete: does ``delete()`` set ``deleted_at`` instead of removing rows?
            Default ``SEGMENTS_SOFT_DELETE``.
    """

    range_field_type: Any = None
    allow_span_gaps: bool | None = None
    allow_segment_gaps: bool | None = None
    soft_delete: bool | None = None


class SegmentConfig:
    """Options of a segment model.

    Attributes:
        span_model: required; the span model class (or ``"app_label.ModelName"`` of a
            model already defined).
        soft_delete: default: the span model's setting.
        previous_field_on_delete: kept for compatibility and without effect:
            ``previous_segment`` is derived from range order, not stored. Only ``SET_NULL``
            and ``DO_NOTHING`` are accepted (both mean: deleting a segment never deletes
            another one).
        span_on_delete: ``on_delete`` of the ``span`` foreign key (default ``CASCADE``).
        span_related_name: ``related_name`` of the ``span`` foreign key, the span's
            accessor of its segments (default ``"segments"``).
        span_related_query_name: its ``related_query_name`` (default: Django's, the
            related name).

    ``span_model`` and ``previous_field_on_delete`` may also be attributes of the
    segment model itself, as in the reference design's example; ``SegmentConfig`` wins.
    """

    span_model: Any = None
    soft_delete: bool | None = None
    previous_field_on_delete: Any = models.SET_NULL
    span_on_delete: Any = models.CASCADE
    span_related_name: str = "segments"
    span_related_query_name: str | None = None


@dataclass(frozen=True)
class SpanOptions:
    """Resolved span options."""

    kind: RangeKind
    allow_span_gaps: bool
    allow_segment_gaps: bool
    soft_delete: bool


@dataclass(frozen=True)
class SegmentOptions:
    """Resolved segment options."""

    span_model: Any
    soft_delete: bool
    span_on_delete: Any
    span_related_name: str = "segments"
    span_related_query_name: str | None = None


def _find_config(name: str, attrs: dict[str, Any], bases: tuple[type, ...]) -> Any:
    if name in attrs:
        return attrs[name]
    for base in bases:
        found = getattr(base, name, None)
        if found is not None:
            return found
    return None


def _default(value: bool | None, fallback: bool) -> bool:
    return fallback if value is None else bool(value)


def resolve_span_options(model_name: str, attrs: dict[str, Any], bases: tuple[type, ...]) -> SpanOptions:
    """Read ``SpanConfig`` of a span model being created; raise a typed error if wrong."""
    config = _find_config("SpanConfig", attrs, bases) or SpanConfig
    kind = resolve_kind(getattr(config, "range_field_type", None), f"{model_name}.SpanConfig")
    return SpanOptions(
        kind=kind,
        allow_span_gaps=_default(getattr(config, "allow_span_gaps", None), conf.allow_span_gaps()),
        allow_segment_gaps=_default(getattr(config, "allow_segment_gaps", None), conf.allow_segment_gaps()),
        soft_delete=_default(getattr(config, "soft_delete", None), conf.soft_delete()),
    )


#: Options of `SegmentConfig` that may be attributes of the segment model itself.
_ON_THE_MODEL = ("span_model", "previous_field_on_delete")


def _segment_option(config: Any, attrs: dict[str, Any], name: str) -> Any:
    """``SegmentConfig.<name>`` if set, else (for `_ON_THE_MODEL`) the model's attribute."""
    value = getattr(config, name, None)
    declared = config is not SegmentConfig and value is not None
    if not declared and name in _ON_THE_MODEL and attrs.get(name) is not None:
        return attrs[name]
    return getattr(SegmentConfig, name) if value is None else value


def resolve_segment_options(
    model_name: str, attrs: dict[str, Any], bases: tuple[type, ...], module: str
) -> SegmentOptions:
    """Read ``SegmentConfig`` of a segment model being created; raise a typed error if wrong."""
    config = _find_config("SegmentConfig", attrs, bases) or SegmentConfig
    span_model = _resolve_span_model(model_name, _segment_option(config, attrs, "span_model"))
    previous_on_delete = _segment_option(config, attrs, "previous_field_on_delete")
    if previous_on_delete not in (models.SET_NULL, models.DO_NOTHING):
        msg = (
            f"{model_name}.SegmentConfig.previous_field_on_delete must be SET_NULL or DO_NOTHING: "
            "previous_segment is maintained by the database from range order, and deleting a "
            f"segment must never delete or block its neighbours; got {previous_on_delete!r}"
        )
        raise SegmentRelationshipError(msg)
    span_options: SpanOptions = span_model._span_options_value
    return SegmentOptions(
        span_model=span_model,
        soft_delete=_default(getattr(config, "soft_delete", None), span_options.soft_delete),
        span_on_delete=_segment_option(config, attrs, "span_on_delete"),
        span_related_name=_segment_option(config, attrs, "span_related_name"),
        span_related_query_name=getattr(config, "span_related_query_name", None),
    )


def _resolve_span_model(model_name: str, span_model: Any) -> Any:
    from django.apps import apps  # noqa: PLC0415

    from django_segments.ranges.models import AbstractSpan  # noqa: PLC0415

    where = f"{model_name}.SegmentConfig.span_model"
    if span_model is None:
        raise SegmentRelationshipError(f"{where} is required")
    if isinstance(span_model, str):
        app_label, _, name = span_model.partition(".")  # "Span" without a dot: LookupError below
        try:
            span_model = apps.get_registered_model(app_label, name)
        except (LookupError, ValueError) as exc:
            msg = f"{where} {span_model!r} is not a model defined before {model_name}"
            raise SegmentRelationshipError(msg) from exc
    if not (isinstance(span_model, type) and issubclass(span_model, AbstractSpan)):
        msg = f"{where} must be a concrete subclass of AbstractSpan; got {span_model!r}"
        raise SegmentRelationshipError(msg)
    if span_model._meta.abstract:
        raise SegmentRelationshipError(f"{where} must not be abstract; got {span_model.__name__}")
    return span_model
