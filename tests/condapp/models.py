"""A model with two condition fields, for the field, form and admin tests."""

from django.conf import settings
from django.db import models

from django_segments.conditions import ConditionsField


def always() -> dict:
    """An empty ``all``: true for everyone."""
    return {"all": []}


class Rule(models.Model):
    """Two trees on one model: the admin page shows two editors."""

    name = models.CharField(max_length=50)
    show_if = ConditionsField(definitions="tests.conditions_defs", default=always)
    hide_if = ConditionsField(definitions="tests.conditions_defs", null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class Profile(models.Model):
    """Optional data of a user, every column nullable: NULLs and missing related rows.

    A user without a profile is a missing related row; ``score`` is a Decimal column and
    ``ratio`` a float column, so comparisons are checked in each column's own type.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="condition_profile"
    )
    score = models.DecimalField(max_digits=12, decimal_places=4, null=True, db_index=True)
    ratio = models.FloatField(null=True)
    nick = models.CharField(max_length=20, null=True)  # noqa: DJ001 - NULL is what is tested
    seen_at = models.DateTimeField(null=True, db_index=True)

    def __str__(self) -> str:
        return f"profile of {self.user_id}"
