"""A model with two condition fields, for the field, form and admin tests."""

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
