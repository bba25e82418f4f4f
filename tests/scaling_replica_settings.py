"""Settings of the standby test's child process: a writer and a streaming standby of it.

``default`` is the primary (``SEGMENTS_PRIMARY_URL``); user SQL runs on ``standby``
(``SEGMENTS_STANDBY_URL``) as the read-only login ``segments_reader``, as the scaling guide
documents. ``primary_reader`` is the same login on the primary, for comparison.
"""

import os

from django_segments.testing.postgres import settings_for_url

SECRET_KEY = "tests-only-not-secret"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.postgres",
    "pgtrigger",
    "django_segments",
]
DATABASES = {
    "default": settings_for_url(os.environ["SEGMENTS_PRIMARY_URL"]),
    "standby": settings_for_url(os.environ["SEGMENTS_STANDBY_URL"], USER="segments_reader"),
    "primary_reader": settings_for_url(os.environ["SEGMENTS_PRIMARY_URL"], USER="segments_reader"),
}
SEGMENTS_EXEC_CONNECTION = "standby"
