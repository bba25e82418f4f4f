from django.apps import AppConfig


class DocsappConfig(AppConfig):
    name = "tests.docsapp"
    label = "docsapp"
    default_auto_field = "django.db.models.BigAutoField"
