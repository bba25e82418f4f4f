"""Settings of the test suite: embedded PostgreSQL 18 unless DATABASE_URL is set."""

import os
from importlib.util import find_spec

import django

from django_segments.testing import database_settings

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"

DATABASES = {
    "default": database_settings(),
    # The login that runs user-written segment SQL: read-only, created by tests/conftest.py.
    "segments_exec": database_settings(USER="segments_reader", PASSWORD="", TEST={"MIRROR": "default"}),
}

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
    "tests.testapp",
    "tests.memberapp",
    "tests.condapp",
]

# Django's tasks framework (the backport on 5.2) with the database queue the worker tests
# run db_worker on (tests/test_scaling_workers.py); "default" runs tasks at once, as
# Django's own default does.
if find_spec("django_tasks_db"):
    INSTALLED_APPS += [*([] if django.VERSION >= (6, 0) else ["django_tasks"]), "django_tasks_db"]
    _IMMEDIATE = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
    TASKS = {
        "default": {"BACKEND": f"{_IMMEDIATE}.backends.immediate.ImmediateBackend"},
        "db": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []},
    }

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
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

ROOT_URLCONF = "tests.urls"
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SEGMENTS_EXEC_CONNECTION = "segments_exec"
# One member model per run (Membership.member refers to it): make test runs the suite
# once per member model; tests/conftest.py keeps each run's tests.
SEGMENTS_MEMBER_MODEL = os.environ.get("SEGMENTS_TEST_MEMBER_MODEL", "auth.User")
if SEGMENTS_MEMBER_MODEL != "auth.User":
    # A test database of its own: its membership table refers to this member model.
    _leg = SEGMENTS_MEMBER_MODEL.rpartition(".")[2].lower()
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{_leg}"}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
