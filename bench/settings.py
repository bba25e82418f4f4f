"""Django settings of the benchmarks: their own database on the configured server.

``DATABASE_URL`` names the server (an embedded PostgreSQL 18 is started when it is
unset); the database itself is ``SEGMENTS_BENCH_DB`` (default ``segments_bench``),
dropped and created afresh by `bench.db.create_database` before Django starts.
"""

import os

from django_segments.testing import database_settings

BENCH_DATABASE = os.environ.get("SEGMENTS_BENCH_DB", "segments_bench")

SECRET_KEY = "bench-only-not-secret"  # noqa: S105 - never used to sign anything real
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"

#: The login that runs user-written segment SQL, as in production: read-only, created
#: by `bench.db.setup_django` with SELECT on the member tables only.
READER = "segments_bench_reader"
DATABASES = {
    "default": database_settings(NAME=BENCH_DATABASE),
    "segments_exec": database_settings(NAME=BENCH_DATABASE, USER=READER, PASSWORD=""),
}
SEGMENTS_EXEC_CONNECTION = "segments_exec"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.postgres",
    "pgtrigger",
    "django_segments",
    "tests.testapp",
    "tests.memberapp",
    "tests.condapp",
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SEGMENTS_MEMBER_MODEL = "memberapp.IntMember"
SEGMENTS_CONDITIONS = "tests.conditions_defs"
LOGGING_CONFIG = None
