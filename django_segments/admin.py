"""Admin of user segments, and `SegmentMembershipInline` for the member model's admin.

The user-segment admin lists each segment's refresh state, refreshes selected segments,
and previews the count and first members of the definitions in the form (saved or not)
without writing anything. Invalid definitions are form errors on their fields.

Add the inline to your user admin to show a member's segments with their periods::

    from django_segments.admin import SegmentMembershipInline

    class UserAdmin(auth_admin.UserAdmin):
        inlines = [SegmentMembershipInline]
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.checks import InlineModelAdminChecks
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.forms.models import BaseModelFormSet, modelformset_factory
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.text import Truncator

from django_segments.exceptions import ConditionError, RefreshError, SegmentsError
from django_segments.membership import members as member_ids
from django_segments.membership.registry import registered_methods
from django_segments.models import Membership, RefreshRun, UserSegment

PREVIEW_LIMIT = 20


def _method_choices() -> list[tuple[str, str]]:
    return [("", "---------"), *((m.name, f"{m.label} ({m.name})") for m in registered_methods())]


@admin.register(UserSegment)
class UserSegmentAdmin(admin.ModelAdmin):
    """User segments: state at a glance, a refresh action and a preview button."""

    list_display = (
        "name",
        "slug",
        "priority",
        "member_count",
        "state",
        "last_success",
        "last_duration",
        "error",
    )
    list_filter = ("state",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    actions = ["refresh_selected"]
    change_form_template = "django_segments/membership/change_form.html"
    readonly_fields = (
        "state",
        "member_count",
        "last_attempt",
        "last_success",
        "last_duration",
        "last_error",
        "last_warnings",
    )
    fieldsets = (
        (None, {"fields": ("name", "slug", "priority")}),
        (
            "Definition (members of any of these)",
            {"fields": ("sql", "static_ids", "method", "conditions")},
        ),
        ("Refresh", {"fields": readonly_fields}),
    )

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        """The ``method`` field offers the registered methods only."""
        if db_field.name == "method":
            return forms.ChoiceField(
                choices=_method_choices(),
                required=False,
                label="Method",
                help_text=db_field.help_text,
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description="last error")
    def error(self, segment: UserSegment) -> str:
        """The first line of the last error, shortened."""
        first = segment.last_error.splitlines()[0] if segment.last_error else ""
        return Truncator(first).chars(80)

    @admin.action(description="Refresh selected user segments")
    def refresh_selected(self, request: HttpRequest, queryset: QuerySet[UserSegment]) -> None:
        """Refresh each selected segment; failures are reported and do not stop the rest."""
        done, failed = 0, []
        for segment in queryset.order_by("priority", "name"):
            try:
                segment.refresh()
                done += 1
            except RefreshError as exc:
                failed.append(str(exc))
        if done:
            self.message_user(request, f"Refreshed {done} segment(s).", messages.SUCCESS)
        for message in failed:
            self.message_user(request, message, messages.ERROR)

    def get_urls(self) -> list[URLPattern]:
        """Add ``preview/`` (add form) and ``<id>/preview/`` (change form)."""
        opts = self.model._meta
        name = f"{opts.app_label}_{opts.model_name}"
        view = self.admin_site.admin_view(self.preview_view)
        return [
            path("preview/", view, name=f"{name}_preview"),
            path("<path:object_id>/preview/", view, name=f"{name}_preview_change"),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest, object_id: str | None = None) -> HttpResponse:
        """Validate the posted form and show what a refresh would select; save nothing."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        segment = self.get_object(request, unquote(object_id)) if object_id else None
        if object_id and segment is None:
            raise Http404
        allowed = (
            self.has_change_permission(request, segment) if segment else self.has_add_permission(request)
        )
        if not allowed:
            raise PermissionDenied
        form = self.get_form(request, segment)(request.POST, instance=segment)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Preview of user segment",
            "form": form,
            "limit": PREVIEW_LIMIT,
        }
        if form.is_valid():
            try:
                context["result"] = form.save(commit=False).preview(limit=PREVIEW_LIMIT)
            except (SegmentsError, ConditionError) as exc:
                context["error"] = str(exc)
        return TemplateResponse(request, "django_segments/membership/preview.html", context)


@admin.register(RefreshRun)
class RefreshRunAdmin(admin.ModelAdmin):
    """Refresh history, read-only."""

    list_display = ("segment", "state", "started_at", "duration", "entered", "exited", "member_count")
    list_filter = ("state", "segment")

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Runs are written by refreshes only."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Runs are written by refreshes only."""
        return False


class _MemberMembershipFormSet(BaseModelFormSet):
    """Membership rows of one member (the inline's parent), current first."""

    def __init__(
        self,
        data: Any = None,
        files: Any = None,
        *,
        instance: models.Model | None = None,
        save_as_new: bool = False,
        prefix: str | None = None,
        queryset: QuerySet | None = None,
        **kwargs: Any,
    ) -> None:
        self.instance = instance
        self.save_as_new = save_as_new
        rows = Membership.objects.all() if queryset is None else queryset
        member_id = None
        if instance is not None:
            member_id = member_ids.member_id_of(member_ids.get_member_model(), instance)
        rows = rows.none() if member_id is None else rows.filter(member_id=member_id)
        rows = rows.select_related("segment").order_by("-period__startswith")
        super().__init__(data, files, prefix=prefix, queryset=rows, **kwargs)

    @classmethod
    def get_default_prefix(cls) -> str:
        """Form prefix of the inline."""
        return "segment_memberships"


class _NoForeignKeyChecks(InlineModelAdminChecks):
    """Membership has no foreign key to the member model: it stores the id as text."""

    def _check_relation(self, obj: Any, parent_model: Any) -> list:
        return []

    def _check_exclude_of_parent_model(self, obj: Any, parent_model: Any) -> list:
        return []


class SegmentMembershipInline(admin.TabularInline):
    """Read-only inline for the member model's admin: segments, entered, left."""

    model = Membership
    checks_class = _NoForeignKeyChecks
    fields = ("segment", "entered", "left")
    readonly_fields = ("segment", "entered", "left")
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name = "segment membership"
    verbose_name_plural = "segment memberships"

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        """A plain model formset filtered by the member's id (there is no foreign key)."""
        return modelformset_factory(
            Membership,
            formset=_MemberMembershipFormSet,
            fields=(),
            extra=0,
            max_num=0,
            can_delete=False,
        )

    @admin.display(description="entered")
    def entered(self, membership: Membership) -> Any:
        """Start of the period."""
        return membership.period.lower

    @admin.display(description="left")
    def left(self, membership: Membership) -> Any:
        """End of the period; empty while current."""
        return membership.period.upper or "(current)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Membership is written by refreshes only."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Membership is written by refreshes only."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Membership is written by refreshes only."""
        return False
