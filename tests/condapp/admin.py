from django.contrib import admin

from tests.condapp.models import Rule


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = ["name"]
