from django.apps import AppConfig


class CondappConfig(AppConfig):
    name = "tests.condapp"
    label = "condapp"
    default_auto_field = "django.db.models.BigAutoField"
