from django.contrib import admin

from django_segments.admin import SegmentMembershipInline
from tests.memberapp.models import IntMember


@admin.register(IntMember)
class IntMemberAdmin(admin.ModelAdmin):
    list_display = ["email", "level"]
    inlines = [SegmentMembershipInline]
