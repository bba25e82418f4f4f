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
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import models
from django.db.models import QuerySet
from django.forms.models import BaseModelFormSet, modelformset_factory
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    JsonResponse,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator

from django_segments import conf
from django_segments.admin_chart import build_count_chart
from django_segments.admin_pages import (
    CHANGES,
    PAGE_SIZE,
    Change,
    change_rows,
    csv_response,
    human_duration,
    member_count_history,
    member_pk,
    member_rows,
    members_by_id,
    run_changes,
    segment_members,
)
from django_segments.conditions import default_definitions, parse
from django_segments.conditions.contradictions import never_true
from django_segments.exceptions import ArchivedSegmentError, ConditionError, RefreshError, SegmentsError
from django_segments.membership import members as member_ids
from django_segments.membership import tasks
from django_segments.membership.registry import registered_methods
from django_segments.models import Membership, RefreshRun, UserSegment

PREVIEW_LIMIT = 20
#: Fields whose edits the live count does not wait for (they define nothing).
DEFINITION_FIELDS = ("sql", "static_ids", "method", "conditions")


def _method_choices() -> list[tuple[str, str]]:
    return [("", "---------"), *((m.name, f"{m.label} ({m.name})") for m in registered_methods())]


def _admin_name(site: admin.AdminSite, opts: Any, view: str) -> str:
    return f"{site.name}:{opts.app_label}_{opts.model_name}_{view}"


class MemberLinks:
    """Links of members to their own admin change page, when the member model is
    registered on ``site`` and ``request``'s user may view it; else no links."""

    def __init__(self, site: admin.AdminSite, request: HttpRequest) -> None:
        model = member_ids.get_member_model()
        self.model_admin = site.get_model_admin(model) if site.is_registered(model) else None
        self.viewable = self.model_admin is not None and self.model_admin.has_view_permission(request)
        self.url_name = _admin_name(site, model._meta, "change")

    def url(self, pk: Any) -> str | None:
        """The change page of the member with primary key ``pk``, or None."""
        return reverse(self.url_name, args=[quote(pk)]) if self.viewable else None

    def searchable(self, request: HttpRequest) -> bool:
        """Whether the member admin has ``search_fields`` (else search is by id)."""
        return self.model_admin is not None and bool(self.model_admin.get_search_fields(request))

    def search(self, request: HttpRequest, members: QuerySet, term: str) -> QuerySet:
        """``members`` matching ``term``: the member admin's ``search_fields`` when it has
        any, else an exact primary key."""
        if not term:
            return members
        if self.model_admin is not None and self.searchable(request):
            found, duplicates = self.model_admin.get_search_results(request, members, term)
            return found.distinct() if duplicates else found
        try:
            return members.filter(pk=member_ids.canonical_id(members.model, term))
        except (ValidationError, ValueError, TypeError):
            return members.none()


def _page_links(request: HttpRequest, page: Any) -> dict[str, str]:
    """Query strings of the previous and next page, keeping the other parameters."""
    links = {}
    for name, has, number in (
        ("previous", page.has_previous, page.previous_page_number),
        ("next", page.has_next, page.next_page_number),
    ):
        if has():
            query = request.GET.copy()
            query["p"] = str(number())
            links[name] = "?" + query.urlencode()
    return links


@admin.register(UserSegment)
class UserSegmentAdmin(admin.ModelAdmin):
    """User segments: state at a glance, a refresh action, a live member count, a preview,
    the members page with its CSV export, and the member count over time."""

    list_display = (
        "name",
        "slug",
        "priority",
        "members_link",
        "state",
        "queue_state",
        "last_success",
        "took",
        "error",
    )
    list_filter = ("state", ("archived_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    actions = ["refresh_selected", "archive_selected"]
    change_form_template = "django_segments/membership/change_form.html"

    class Media:
        css = {"all": ("django_segments/membership/admin.css",)}
        js = ("django_segments/membership/live_count.js",)

    readonly_fields = (
        "state",
        "member_count",
        "last_attempt",
        "last_success",
        "took",
        "last_error",
        "last_warnings",
        "refresh_queued_at",
    )
    fieldsets = (
        (None, {"fields": ("name", "slug", "priority", "refresh_interval")}),
        (
            "Definition (members of any of these)",
            {"fields": DEFINITION_FIELDS},
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

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        """The slug is read-only once the segment exists (commands and code name it)."""
        fields = tuple(super().get_readonly_fields(request, obj))
        return (*fields, "slug") if obj is not None else fields

    def get_prepopulated_fields(self, request: HttpRequest, obj: Any = None) -> dict[str, Any]:
        """The slug follows the name on the add form only."""
        return super().get_prepopulated_fields(request, obj) if obj is None else {}

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        """No "Refresh" fieldset on the add form: a new segment has no refresh to show."""
        fieldsets = super().get_fieldsets(request, obj)
        return fieldsets if obj is not None else [fs for fs in fieldsets if fs[0] != "Refresh"]

    @admin.display(description="members", ordering="member_count")
    def members_link(self, segment: UserSegment) -> str:
        """The member count, linked to the segment's members page."""
        url = reverse(_admin_name(self.admin_site, self.opts, "members"), args=[quote(segment.pk)])
        return format_html('<a href="{}">{}</a>', url, f"{segment.member_count:,}")

    @admin.display(description="last duration", ordering="last_duration")
    def took(self, segment: UserSegment) -> str:
        """Duration of the last refresh in human units."""
        return human_duration(segment.last_duration)

    @admin.display(description="last error")
    def error(self, segment: UserSegment) -> str:
        """The first line of the last error, shortened."""
        first = segment.last_error.splitlines()[0] if segment.last_error else ""
        return Truncator(first).chars(80)

    @admin.display(description="queue", ordering="refresh_queued_at")
    def queue_state(self, segment: UserSegment) -> str:
        """ "refresh queued" while a queued refresh has not run yet, else empty."""
        return "refresh queued" if segment.refresh_queued_at else ""

    def save_model(self, request: HttpRequest, obj: UserSegment, form: Any, change: bool) -> None:
        """Save; in task mode (``SEGMENTS_REFRESH_ON_SAVE = "task"``) say a refresh was queued."""
        super().save_model(request, obj, form, change)
        if conf.refresh_on_save() == "task" and tasks.refreshes_are_queued():
            self.message_user(
                request,
                f"A refresh of {obj} was queued; its members change when a worker has run it.",
                messages.INFO,
            )

    @admin.action(description="Refresh selected user segments")
    def refresh_selected(self, request: HttpRequest, queryset: QuerySet[UserSegment]) -> None:
        """Refresh each selected segment: queued when a refresh queue is configured (the
        request then refreshes nothing), else here. A failure does not stop the rest."""
        segments = queryset.order_by("priority", "name")
        if tasks.refreshes_are_queued():
            self._queue_refreshes(request, segments)
            return
        done, failed = 0, []
        for segment in segments:
            try:
                segment.refresh()
                done += 1
            except RefreshError as exc:
                failed.append(str(exc))
        if done:
            self.message_user(request, f"Refreshed {done} segment(s).", messages.SUCCESS)
        for message in failed:
            self.message_user(request, message, messages.ERROR)

    @admin.action(description="Archive selected user segments (close every membership)")
    def archive_selected(self, request: HttpRequest, queryset: QuerySet[UserSegment]) -> None:
        """Archive each selected segment that is not archived yet (see `UserSegment.archive`)."""
        archived = [segment.slug for segment in queryset.filter(archived_at__isnull=False)]
        done = 0
        for segment in queryset.filter(archived_at=None).order_by("priority", "name"):
            try:
                segment.archive()
            except ArchivedSegmentError:  # archived elsewhere since the page was shown
                archived.append(segment.slug)
            else:
                done += 1
        if done:
            self.message_user(
                request,
                f"Archived {done} segment(s): their members left now, their history stays.",
                messages.SUCCESS,
            )
        if archived:
            self.message_user(request, f"Already archived: {', '.join(archived)}.", messages.WARNING)

    def _queue_refreshes(self, request: HttpRequest, segments: QuerySet[UserSegment]) -> None:
        queued = 0
        for segment in segments:
            try:
                tasks.enqueue_refresh(segment.pk)
            except Exception as exc:  # any queue's error (a broker down) is reported, per segment
                self.message_user(request, f"Could not queue a refresh of {segment}: {exc}", messages.ERROR)
            else:
                queued += 1
        if queued:
            self.message_user(
                request,
                f'Queued a refresh of {queued} segment(s); they show "refresh queued" until a '
                "worker has refreshed them.",
                messages.SUCCESS,
            )

    def get_urls(self) -> list[URLPattern]:
        """Add the preview and live count (add and change forms), members and members CSV."""
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("preview/", wrap(self.preview_view), name=f"{name}_preview"),
            path("count/", wrap(self.count_view), name=f"{name}_count"),
            path("<path:object_id>/preview/", wrap(self.preview_view), name=f"{name}_preview_change"),
            path("<path:object_id>/count/", wrap(self.count_view), name=f"{name}_count_change"),
            path("<path:object_id>/members/", wrap(self.members_view), name=f"{name}_members"),
            path("<path:object_id>/members.csv", wrap(self.members_csv_view), name=f"{name}_members_csv"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        """The change page, with the member count over time drawn from the history."""
        segment = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if segment is not None:
            points = member_count_history(segment)
            context["count_chart"] = build_count_chart(points, now=timezone.now())
        return super().change_view(request, object_id, form_url, context)

    def _posted_form(self, request: HttpRequest, object_id: str | None) -> Any:
        """The segment form bound to the POST data; nothing is saved."""
        segment = self.get_object(request, unquote(object_id)) if object_id else None
        if object_id and segment is None:
            raise Http404
        allowed = (
            self.has_change_permission(request, segment) if segment else self.has_add_permission(request)
        )
        if not allowed:
            raise PermissionDenied
        return self.get_form(request, segment)(request.POST, instance=segment)

    def preview_view(self, request: HttpRequest, object_id: str | None = None) -> HttpResponse:
        """Validate the posted form and show what a refresh would select; save nothing."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        form = self._posted_form(request, object_id)
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

    def count_view(self, request: HttpRequest, object_id: str | None = None) -> JsonResponse:
        """JSON for the live count of the form: ``count`` (None when not counted),
        ``errors`` by field, the refresh's ``warnings``, and ``never``: why the conditions
        tree can never be true (empty when it may be). Saves nothing."""
        if request.method != "POST":
            return JsonResponse({"error": "POST only"}, status=405)
        form = self._posted_form(request, object_id)
        result: dict[str, Any] = {"count": None, "errors": {}, "warnings": [], "never": []}
        if not form.is_valid():
            result["errors"] = {field: [str(e) for e in errors] for field, errors in form.errors.items()}
            return JsonResponse(result)
        segment = form.save(commit=False)
        if segment.conditions is not None:
            result["never"] = never_true(parse(segment.conditions, definitions=default_definitions()))
        try:
            preview = segment.preview(limit=0)
        except (SegmentsError, ConditionError) as exc:
            result["errors"] = {"__all__": [str(exc)]}
        else:
            result["count"], result["warnings"] = preview.count, list(preview.warnings)
        return JsonResponse(result)

    def _viewable_segment(self, request: HttpRequest, object_id: str) -> UserSegment:
        segment = self.get_object(request, unquote(object_id))
        if segment is None:
            raise Http404(f"No user segment with id {object_id!r}.")
        if not self.has_view_permission(request, segment):
            raise PermissionDenied
        return segment

    def _searched_members(self, request: HttpRequest, segment: UserSegment) -> tuple[QuerySet, str, Any]:
        links = MemberLinks(self.admin_site, request)
        term = request.GET.get("q", "").strip()
        return links.search(request, segment_members(segment), term), term, links

    def members_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The segment's current members: paged, searchable, each linked to its admin page."""
        segment = self._viewable_segment(request, object_id)
        members, term, links = self._searched_members(request, segment)
        page = Paginator(members, PAGE_SIZE).get_page(request.GET.get("p"))
        csv_url = reverse(_admin_name(self.admin_site, self.opts, "members_csv"), args=[quote(segment.pk)])
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": segment,
            "title": f"Members of {segment}",
            "crumb": "Members",
            "term": term,
            "page": page,
            "page_links": _page_links(request, page),
            "rows": [(member, member.segment_since, links.url(member.pk)) for member in page],
            "csv_url": csv_url + (f"?{request.GET.urlencode()}" if term else ""),
            "searchable": links.searchable(request),
        }
        return TemplateResponse(request, "django_segments/membership/members.html", context)

    def members_csv_view(self, request: HttpRequest, object_id: str) -> StreamingHttpResponse:
        """The current members (matching ``q`` if given) as a streamed CSV: id, member, since."""
        segment = self._viewable_segment(request, object_id)
        members, _, _ = self._searched_members(request, segment)
        return csv_response(f"{segment.slug}-members.csv", ("id", "member", "since"), member_rows(members))


@admin.register(RefreshRun)
class RefreshRunAdmin(admin.ModelAdmin):
    """Refresh history, read-only; each run drills down to who entered and who left."""

    list_display = (
        "started",
        "segment",
        "state",
        "took",
        "entered_link",
        "left_link",
        "members",
        "problem",
    )
    list_display_links = ("started",)
    list_filter = ("state", "segment")
    list_select_related = ("segment",)
    date_hierarchy = "started_at"
    change_form_template = "django_segments/membership/refreshrun_change_form.html"
    readonly_fields = ("took",)

    class Media:
        css = {"all": ("django_segments/membership/admin.css",)}

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Runs are written by refreshes only."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Runs are written by refreshes only."""
        return False

    def _changes_url(self, run: RefreshRun, change: str) -> str:
        url = reverse(_admin_name(self.admin_site, self.opts, "changes"), args=[quote(run.pk)])
        return f"{url}?change={change}"

    @admin.display(description="started", ordering="started_at")
    def started(self, run: RefreshRun) -> str:
        """Start of the run in the current time zone, to the second."""
        return f"{timezone.localtime(run.started_at):%Y-%m-%d %H:%M:%S}"

    @admin.display(description="took", ordering="duration")
    def took(self, run: RefreshRun) -> str:
        """Duration in human units."""
        return human_duration(run.duration)

    @admin.display(description="entered", ordering="entered")
    def entered_link(self, run: RefreshRun) -> str:
        """Number of members who entered, linked to them."""
        return format_html('<a href="{}">{}</a>', self._changes_url(run, "entered"), f"{run.entered:,}")

    @admin.display(description="left", ordering="exited")
    def left_link(self, run: RefreshRun) -> str:
        """Number of members who left, linked to them."""
        return format_html('<a href="{}">{}</a>', self._changes_url(run, "left"), f"{run.exited:,}")

    @admin.display(description="members", ordering="member_count")
    def members(self, run: RefreshRun) -> str:
        """Members after the run."""
        return "" if run.member_count is None else f"{run.member_count:,}"

    @admin.display(description="error")
    def problem(self, run: RefreshRun) -> str:
        """The first line of the error, else of the warnings, shortened."""
        text = run.error or run.warnings
        return Truncator(text.splitlines()[0]).chars(60) if text else ""

    def get_urls(self) -> list[URLPattern]:
        """Add ``<id>/changes/`` (entered or left, paged) and ``<id>/changes.csv``."""
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/changes/", wrap(self.changes_view), name=f"{name}_changes"),
            path("<path:object_id>/changes.csv", wrap(self.changes_csv_view), name=f"{name}_changes_csv"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        """The run's page, with links to who entered and who left."""
        run = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if run is not None:
            context["change_links"] = [
                (f"Entered ({run.entered:,})", self._changes_url(run, "entered")),
                (f"Left ({run.exited:,})", self._changes_url(run, "left")),
            ]
            context["changes_csv_url"] = reverse(
                _admin_name(self.admin_site, self.opts, "changes_csv"), args=[quote(run.pk)]
            )
        return super().change_view(request, object_id, form_url, context)

    def _viewable_run(self, request: HttpRequest, object_id: str) -> RefreshRun:
        run = self.get_object(request, unquote(object_id))
        if run is None:
            raise Http404(f"No refresh run with id {object_id!r}.")
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        return run

    def changes_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Members who entered (``?change=entered``) or left (``?change=left``) in a run."""
        run = self._viewable_run(request, object_id)
        change: Change = "left" if request.GET.get("change") == "left" else "entered"
        page = Paginator(run_changes(run, change), PAGE_SIZE).get_page(request.GET.get("p"))
        links = MemberLinks(self.admin_site, request)
        found = members_by_id(row.member_id for row in page)
        rows = []
        for row in page:
            pk = member_pk(row.member_id)
            rows.append((pk, found.get(pk), row.period, links.url(pk) if pk in found else None))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": run,
            "title": f"{'Entered' if change == 'entered' else 'Left'} in the refresh of {run.segment}",
            "change": change,
            "crumb": change.capitalize(),
            "tabs": [(c, self._changes_url(run, c), c == change) for c in CHANGES],
            "page": page,
            "page_links": _page_links(request, page),
            "rows": rows,
            "took": human_duration(run.duration),
            "csv_url": reverse(_admin_name(self.admin_site, self.opts, "changes_csv"), args=[quote(run.pk)]),
        }
        return TemplateResponse(request, "django_segments/membership/run_changes.html", context)

    def changes_csv_view(self, request: HttpRequest, object_id: str) -> StreamingHttpResponse:
        """Entries then exits of the run as a streamed CSV: change, id, entered, left."""
        run = self._viewable_run(request, object_id)
        filename = f"{run.segment.slug}-run-{run.pk}-changes.csv"
        return csv_response(filename, ("change", "id", "entered", "left"), change_rows(run))


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
            member_id = member_ids.member_key_of(member_ids.get_member_model(), instance)
        rows = rows.none() if member_id is None else rows.filter(member_id=member_id)
        rows = rows.select_related("segment").order_by("-period__startswith")
        super().__init__(data, files, prefix=prefix, queryset=rows, **kwargs)

    @classmethod
    def get_default_prefix(cls) -> str:
        """Form prefix of the inline."""
        return "segment_memberships"


class _NoForeignKeyChecks(InlineModelAdminChecks):
    """The inline builds its own formset (`SegmentMembershipInline.get_formset`), so the
    checks of an inline's foreign key to its parent model do not apply."""

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
        """A plain model formset of the member's periods, newest first, read-only."""
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
