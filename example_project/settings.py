"""Settings of the example project.

The database server comes from `django_segments.testing.database_settings`: an embedded
PostgreSQL 18 when ``DATABASE_URL`` is unset, else that server. The demo uses its own
database on it, named by ``SEGMENTS_DEMO_DB`` (default ``segments_demo``), so it never
touches a test database.
"""

import os

from django_segments.testing import database_settings

DEMO_DB = os.environ.get("SEGMENTS_DEMO_DB", "segments_demo")
#: The read-only login that runs user-written segment SQL (created by run_demo.py).
DEMO_READER = os.environ.get("SEGMENTS_DEMO_READER", "segments_demo_reader")

SECRET_KEY = "example-project-only-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"

DATABASES = {
    "default": database_settings(NAME=DEMO_DB),
    # User SQL of segments runs on this alias: a login that may only SELECT (see docs).
    "segments_exec": database_settings(NAME=DEMO_DB, USER=DEMO_READER, PASSWORD=""),
}
DATABASE_ROUTERS = ["django_segments.membership.router.SegmentsExecRouter"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "pgtrigger",
    "django_segments",
    "example_project.billing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

ROOT_URLCONF = "example_project.urls"
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-segments
SEGMENTS_MEMBER_MODEL = "billing.Customer"
SEGMENTS_CONDITIONS = "example_project.billing.conditions"
SEGMENTS_EXEC_CONNECTION = "segments_exec"
SEGMENTS_STATEMENT_TIMEOUT = 10_000
