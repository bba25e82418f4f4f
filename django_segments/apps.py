"""Django app configuration."""

from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    """App config of django-segments; registers the system checks."""

    name = "django_segments"
    label = "django_segments"
    verbose_name = "Segments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register system checks; make ``makemigrations`` add the btree_gist dependency."""
        from django_segments import autodetector, checks  # noqa: F401, PLC0415 - registers checks

        autodetector.install()
