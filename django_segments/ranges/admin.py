"""Admin for spans and segments: a timeline picture and segment operations.

Use `SpanAdmin` for a span model and `SegmentInline` for its segments::

    from django.contrib import admin
    from django_segments.ranges.admin import SegmentInline, SpanAdmin

    class PlanPeriodInline(SegmentInline):
        model = PlanPeriod

    @admin.register(Subscription)
    class SubscriptionAdmin(SpanAdmin):
        inlines = [PlanPeriodInline]
        timeline_label_field = "plan"

The change page shows the span as an SVG timeline (gaps and soft-deleted segments
included) and a small form that runs one operation - split, merge, shift, append - through
the library. Whatever Postgres refuses comes back as the library's typed exception and is
shown as an error message naming the broken rule; nothing is half-applied.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import widgets
from django.contrib.postgres import fields as pg_fields
from django.contrib.postgres.forms import DateTimeRangeField, RangeWidget
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DataError, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.datastructures import MultiValueDict

from django_segments.exceptions import RangeIntegrityError, RangeValueError, SegmentsError
from django_segments.templatetags.segments_timeline import build_timeline


@dataclass(frozen=True)
class Operation:
    """One operation the span page offers: its label, target and argument."""

    label: str
    target: str  # "segment" or "span"
    argument: str | None  # "value", "delta" or None
    method: str


#: Operations by form value, in the order the form lists them.
OPERATIONS: dict[str, Operation] = {
    "split": Operation("Split the segment at a value", "segment", "value", "split"),
    "merge_into_lower": Operation(
        "Merge the segment into the one before it", "segment", None, "merge_into_lower"
    ),
    "merge_into_upper": Operation(
        "Merge the segment into the one after it", "segment", None, "merge_into_upper"
    ),
    "segment_shift_by_value": Operation(
        "Shift the segment by a delta (touching neighbours follow)", "segment", "delta", "shift_by_value"
    ),
    "segment_shift_lower_to_value": Operation(
        "Move the segment's lower bound to a value", "segment", "value", "shift_lower_to_value"
    ),
    "segment_shift_upper_to_value": Operation(
        "Move the segment's upper bound to a value", "segment", "value", "shift_upper_to_value"
    ),
    "span_shift_by_value": Operation("Shift the whole span by a delta", "span", "delta", "shift_by_value"),
    "span_shift_lower_to_value": Operation(
        "Move the span's lower bound to a value", "span", "value", "shift_lower_to_value"
    ),
    "span_shift_upper_to_value": Operation(
        "Move the span's upper bound to a value", "span", "value", "shift_upper_to_value"
    ),
    "append": Operation("Extend the span to a value with a new last segment", "span", "value", "append"),
}


def _value_field(kind_name: str) -> forms.Field:
    if kind_name == "date":
        return forms.DateField(required=False, widget=widgets.AdminDateWidget())
    if kind_name == "datetime":
        return forms.SplitDateTimeField(required=False, widget=widgets.AdminSplitDateTime())
    if kind_name == "decimal":
        return forms.DecimalField(required=False)
    return forms.IntegerField(required=False)


def _delta_field(kind_name: str) -> forms.Field:
    if kind_name == "date":
        return forms.IntegerField(required=False, label="Delta (days)")
    if kind_name == "datetime":
        return forms.DurationField(required=False, label="Delta", help_text="e.g. 1 00:00:00 for a day")
    if kind_name == "decimal":
        return forms.DecimalField(required=False, label="Delta")
    return forms.IntegerField(required=False, label="Delta")


#: A delta of one unit of each range kind: the form's default.
_ONE_UNIT: dict[str, Any] = {"date": 1, "datetime": dt.timedelta(days=1), "decimal": Decimal(1)}


def _midpoint(rng: Any) -> Any:
    """A value strictly inside ``rng`` (a valid split point), or None when there is none."""
    lower, upper = rng.lower, rng.upper
    if lower is None or upper is None:
        return None
    if isinstance(lower, int):
        return lower + (upper - lower) // 2 if upper - lower >= 2 else None
    if not isinstance(lower, dt.datetime) and isinstance(lower, dt.date):
        days = (upper - lower).days
        return lower + dt.timedelta(days=days // 2) if days >= 2 else None
    return lower + (upper - lower) / 2


class OperationSelect(forms.Select):
    """The operation choices, each naming the inputs it needs (``data-target`` is
    "segment" or "span", ``data-argument`` "value", "delta" or empty); the page's script
    shows only those."""

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """An option with the operation's target and argument as data attributes."""
        option = super().create_option(name, value, *args, **kwargs)
        op = OPERATIONS.get(str(value))
        if op is not None:
            option["attrs"].update({"data-target": op.target, "data-argument": op.argument or ""})
        return option


class SegmentChoiceField(forms.ModelChoiceField):
    """Active segments of one span, shown as ``#12 [lower, upper) premium``."""

    def label_from_instance(self, obj: Any) -> str:
        """The segment's id and range, then its own text without Django's default text
        and without the range repeated."""
        rng = obj.segment_range
        text = f"#{obj.pk} [{rng.lower}, {rng.upper})"
        own = str(obj)
        if own.startswith(type(obj).__name__ + " object"):
            return text
        for shown in (f"[{rng.lower}, {rng.upper})", str(rng)):
            own = own.replace(shown, "")
        own = " ".join(own.split())
        return f"{text} {own}" if own else text


class SegmentOperationForm(forms.Form):
    """One operation on a span or one of its active segments; fields typed by range kind.

    Unbound, it proposes a valid operation: split the first active segment at its middle
    (a delta of one unit for shifts).
    """

    operation = forms.ChoiceField(
        choices=[(key, op.label) for key, op in OPERATIONS.items()], widget=OperationSelect
    )
    segment: SegmentChoiceField = SegmentChoiceField(queryset=None, required=False, empty_label="(the span)")

    class Media:
        js = ("django_segments/ranges/operation_form.js",)

    def __init__(self, *args: Any, span: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.span = span
        kind_name = span._span_options().kind.name
        self.kind_name = kind_name
        field = self.fields["segment"]
        assert isinstance(field, SegmentChoiceField)  # noqa: S101 - declared above
        field.queryset = span.get_active_segments()
        self.fields["value"] = _value_field(kind_name)
        self.fields["delta"] = _delta_field(kind_name)
        if not self.is_bound:
            self.initial = {**self._defaults(field.queryset.first()), **self.initial}

    def _defaults(self, first: Any) -> dict[str, Any]:
        defaults: dict[str, Any] = {"delta": _ONE_UNIT.get(self.kind_name, 1)}
        if first is not None:
            defaults |= {"operation": "split", "segment": first.pk, "value": _midpoint(first.segment_range)}
        else:
            defaults |= {"operation": "append"}
        return defaults

    def clean(self) -> dict[str, Any]:
        """Check that the chosen operation has its target and its argument."""
        data = super().clean() or {}
        op = OPERATIONS.get(data.get("operation", ""))
        if op is None:
            return data
        if op.target == "segment" and data.get("segment") is None:
            self.add_error("segment", "Choose the segment this operation applies to.")
        if op.argument and data.get(op.argument) in (None, ""):
            self.add_error(op.argument, f"{op.label} needs a {op.argument}.")
        return data

    def argument_field(self) -> str | None:
        """Name of the input the chosen operation reads (``"value"``, ``"delta"``), or None."""
        return OPERATIONS[self.cleaned_data["operation"]].argument

    def argument(self) -> Any:
        """The cleaned argument of the chosen operation, as the library expects it.

        `OverflowError` for a number of days no date arithmetic can hold.
        """
        op = OPERATIONS[self.cleaned_data["operation"]]
        if op.argument is None:
            return None
        value = self.cleaned_data[op.argument]
        if op.argument == "delta" and self.kind_name == "date":
            return dt.timedelta(days=value)
        return value

    def run(self) -> Any:
        """Apply the operation; raise the library's typed exceptions unchanged."""
        op = OPERATIONS[self.cleaned_data["operation"]]
        target = self.cleaned_data["segment"] if op.target == "segment" else self.span
        method: Callable[..., Any] = getattr(target, op.method)
        if op.method == "append":
            return method(to_value=self.argument())
        if op.argument is None:
            return method()
        return method(self.argument())


def describe_value_error(exc: Exception, kind_name: str) -> str:
    """A message for a value the range type cannot hold: the library's own
    `RangeValueError`, or Postgres' or Python's refusal (``DataError``, ``OverflowError``)
    of a result out of the type's range. Names no value."""
    if isinstance(exc, RangeValueError):
        return describe_error(exc)
    return (
        f"Invalid value ({type(exc).__name__}): the result is out of range for this span's {kind_name} "
        "range; nothing was changed."
    )


def describe_error(exc: SegmentsError) -> str:
    """A message for an admin user: what was refused and why."""
    if isinstance(exc, RangeIntegrityError):
        detail = exc.detail or str(exc)
        return f"Refused by the database ({exc.invariant} rule, {type(exc).__name__}): {detail}"
    if isinstance(exc, RangeValueError):
        return f"Invalid value ({type(exc).__name__}): {exc}"
    return f"Not possible ({type(exc).__name__}): {exc}"


class SplitDateTimeRangeField(DateTimeRangeField):
    """A datetime range entered as two date-and-time pairs (the admin's split widget)."""

    base_field = forms.SplitDateTimeField


class SpanAdminForm(forms.ModelForm):
    """Checks a new span's range with the library before saving."""

    def clean(self) -> dict[str, Any]:
        """Validate ``current_range`` like `AbstractSpan.save` does, as a form error."""
        data = super().clean() or {}
        rng = data.get("current_range")
        if rng is not None and "current_range" in self.fields:
            kind = self._meta.model._span_options().kind
            try:
                data["current_range"] = kind.coerce(rng, "current_range")
            except RangeValueError as exc:
                self.add_error("current_range", str(exc))
        return data


class SegmentInline(admin.TabularInline):
    """Active segments of a span, in range order; ranges are changed by operations only.

    Fields of your own (a plan, a label) stay editable. Segments are not added or deleted
    here: in a span that forbids gaps that would break it; use the operations form.
    """

    extra = 0
    can_delete = False
    readonly_fields = ("segment_range",)
    ordering = ("segment_range__startswith",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Segments are created by operations (split, append, insert), not by the inline."""
        return False

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        """Hide ``deleted_at`` (set by soft deletes)."""
        return [*(super().get_exclude(request, obj) or ()), "deleted_at"]


class SpanAdmin(admin.ModelAdmin):
    """ModelAdmin base of span models: timeline, operations form, typed errors as messages.

    Attributes:
        timeline_label_field: segment field whose value labels and colours the boxes of
            the timeline; default: the first field the segment model declares.
        timeline_width: width of the timeline in SVG units (it scales to the page).
    """

    form = SpanAdminForm
    change_form_template = "django_segments/ranges/span_change_form.html"
    timeline_label_field: str | None = None
    timeline_width = 900

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        """Ranges are read-only once a span exists: they change through operations."""
        fields = [*super().get_readonly_fields(request, obj), "deleted_at"]
        if obj is not None:
            fields += ["initial_range", "current_range"]
        return fields

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        """A new span's initial range is its current range; do not ask for it."""
        exclude = list(super().get_exclude(request, obj) or ())
        return [*exclude, "initial_range"] if obj is None else exclude

    def get_urls(self) -> list[Any]:
        """Add ``<id>/segments/operation/`` before the default URLs."""
        meta = self.opts
        name = f"{meta.app_label}_{meta.model_name}_segment_operation"
        return [
            path(
                "<path:object_id>/segments/operation/",
                self.admin_site.admin_view(self.segment_operation_view),
                name=name,
            ),
            *super().get_urls(),
        ]

    def operation_url(self, obj: Any) -> str:
        """URL the operations form posts to."""
        meta = self.opts
        return reverse(
            f"{self.admin_site.name}:{meta.app_label}_{meta.model_name}_segment_operation",
            args=[obj.pk],
        )

    def change_url(self, obj: Any) -> str:
        """URL of the span's change page."""
        meta = self.opts
        return reverse(f"{self.admin_site.name}:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])

    def timeline_marker(self, obj: Any) -> tuple[Any, str] | None:
        """A ``(value, label)`` drawn as a dashed line on the timeline, e.g. today; None: none."""
        return None

    def timeline(self, obj: Any) -> Any:
        """The `Timeline` drawn on the change page of ``obj``."""
        marker = self.timeline_marker(obj)
        value, label = marker if marker is not None else (None, "")
        return build_timeline(
            obj,
            width=self.timeline_width,
            label_field=self.timeline_label_field,
            marker=value,
            marker_label=label,
        )

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        """Date and datetime ranges use the admin's calendar and clock widgets."""
        if isinstance(db_field, pg_fields.DateRangeField):
            kwargs.setdefault("widget", RangeWidget(widgets.AdminDateWidget()))
        elif isinstance(db_field, pg_fields.DateTimeRangeField):
            kwargs.setdefault("form_class", SplitDateTimeRangeField)
            kwargs.setdefault("widget", RangeWidget(widgets.AdminSplitDateTime()))
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def _kept_key(self, obj: Any) -> str:
        return f"django_segments:operation:{self.opts.label_lower}:{obj.pk}"

    def _keep(
        self, request: HttpRequest, obj: Any, error: str | None = None, field: str | None = None
    ) -> None:
        """Keep what was entered (and why it was refused) for the change page to show."""
        data = {k: v for k, v in request.POST.lists() if k != "csrfmiddlewaretoken"}
        request.session[self._kept_key(obj)] = {"data": data, "error": error, "field": field}

    def operation_form(self, request: HttpRequest, obj: Any) -> SegmentOperationForm:
        """The operations form: what was entered last time if it was refused, with the
        reasons, else one with valid defaults."""
        kept = request.session.pop(self._kept_key(obj), None)
        if not kept:
            return SegmentOperationForm(span=obj, auto_id="id_op_%s")
        form = SegmentOperationForm(MultiValueDict(kept["data"]), span=obj, auto_id="id_op_%s")
        if form.is_valid() and kept["error"]:
            form.add_error(kept["field"], kept["error"])
        return form

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        """The change page, with the timeline and the operations form; database refusals
        of an edit become an error message instead of a server error."""
        obj = self.get_object(request, object_id)
        context = dict(extra_context or {})
        form = None
        if obj is not None:
            form = self.operation_form(request, obj)
            context["segments_timeline"] = self.timeline(obj)
            context["segment_operation_form"] = form
            context["segment_operation_url"] = self.operation_url(obj)
            context["segments_can_operate"] = self.has_change_permission(request, obj)
        try:
            response = super().change_view(request, object_id, form_url, context)
        except SegmentsError as exc:
            self.message_user(request, describe_error(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        context_data = getattr(response, "context_data", None)
        if form is not None and context_data is not None and "media" in context_data:
            # One Media object merges (and de-duplicates) the admin's calendar scripts.
            context_data["media"] = context_data["media"] + form.media
        return response

    def segment_operation_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: run one operation, report the outcome as a message, go back to the span;
        a refused operation comes back in the form as it was entered, with the reason."""
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404(f"{self.opts.verbose_name} {object_id!r} does not exist")
        if request.method != "POST" or not self.has_change_permission(request, obj):
            raise PermissionDenied
        form = SegmentOperationForm(request.POST, span=obj)
        if not form.is_valid():
            for field, errors in form.errors.items():
                where = "" if field == "__all__" else f"{form[field].label}: "
                self.message_user(request, f"{where}{' '.join(str(e) for e in errors)}", messages.ERROR)
            self._keep(request, obj)
            return HttpResponseRedirect(self.change_url(obj))
        self._run(request, form, obj)
        return HttpResponseRedirect(self.change_url(obj))

    def _run(self, request: HttpRequest, form: SegmentOperationForm, obj: Any) -> None:
        op = OPERATIONS[form.cleaned_data["operation"]]
        target = form.cleaned_data["segment"] if op.target == "segment" else obj
        before = str(target.segment_range if op.target == "segment" else target.current_range)
        try:
            with transaction.atomic(using=obj._state.db):
                result = form.run()
        except (RangeValueError, DataError, OverflowError) as exc:
            message = describe_value_error(exc, form.kind_name)
            self.message_user(request, message, messages.ERROR)
            self._keep(request, obj, message, form.argument_field())
            return
        except SegmentsError as exc:
            self.message_user(request, describe_error(exc), messages.ERROR)
            self._keep(request, obj, describe_error(exc))
            return
        except ValidationError as exc:  # pragma: no cover - a model's own validation
            self.message_user(request, "; ".join(exc.messages), messages.ERROR)
            self._keep(request, obj, "; ".join(exc.messages))
            return
        obj.refresh_from_db()
        self.log_change(request, obj, f"{op.label}: {target} ({before})")
        done = f"{op.label}: done."
        if result is not None and hasattr(result, "segment_range"):
            rng = result.segment_range
            done = f"{op.label}: done; segment #{result.pk} now covers [{rng.lower}, {rng.upper})."
        self.message_user(request, done, messages.SUCCESS)


class SegmentAdmin(admin.ModelAdmin):
    """ModelAdmin base of segment models: ranges read-only, merge actions, typed errors.

    Segments are not added here (operations create them); the actions merge each selected
    segment into its neighbour, one operation per segment, and report every refusal.
    """

    actions = ("merge_into_lower", "merge_into_upper")
    readonly_fields = ("span", "segment_range", "deleted_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Segments are created by operations (split, append, insert)."""
        return False

    @admin.action(description="Merge selected segments into the segment before each")
    def merge_into_lower(self, request: HttpRequest, queryset: Any) -> None:
        """Run `AbstractSegment.merge_into_lower` on each selected segment."""
        self._merge(request, queryset, "lower")

    @admin.action(description="Merge selected segments into the segment after each")
    def merge_into_upper(self, request: HttpRequest, queryset: Any) -> None:
        """Run `AbstractSegment.merge_into_upper` on each selected segment."""
        self._merge(request, queryset, "upper")

    def _merge(self, request: HttpRequest, queryset: Any, into: str) -> None:
        merged = 0
        for segment in queryset.order_by("span_id", "segment_range__startswith"):
            try:
                getattr(segment, f"merge_into_{into}")()
            except SegmentsError as exc:
                self.message_user(request, f"Segment #{segment.pk}: {describe_error(exc)}", messages.ERROR)
            else:
                merged += 1
        if merged:
            self.message_user(
                request, f"Merged {merged} segment(s) into the {into} neighbour.", messages.SUCCESS
            )
