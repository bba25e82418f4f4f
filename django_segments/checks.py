"""System checks of django-segments (ids ``django_segments.E0xx`` / ``W0xx``).

| id | level | meaning |
|---|---|---|
| E001 | error | ``pgtrigger`` is not in ``INSTALLED_APPS`` |
| E002 | error | the ``btree_gist`` extension is neither installed nor available |
| E003 | error | a database used by the library is not PostgreSQL |
| W001 | warning | PostgreSQL older than 14 |
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.apps import apps
from django.core import checks
from django.db import connections
from django.db.utils import DatabaseError

MIN_SERVER_VERSION = 140000


@checks.register()
def check_pgtrigger_installed(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list:
    """E001: span and segment constraint triggers are installed by django-pgtrigger."""
    if apps.is_installed("pgtrigger"):
        return []
    return [
        checks.Error(
            "django-pgtrigger is not in INSTALLED_APPS.",
            hint='Add "pgtrigger" to INSTALLED_APPS; span and segment invariants are '
            "enforced by triggers that it installs through migrations.",
            id="django_segments.E001",
        )
    ]


def _postgres_aliases(databases: Iterable[str] | None) -> list[str]:
    return [alias for alias in databases or [] if alias in connections]


@checks.register(checks.Tags.database)
def check_database(
    app_configs: Sequence[Any] | None = None,
    databases: Iterable[str] | None = None,
    **kwargs: Any,
) -> list:
    """E002, E003, W001: inspect each database the check run is allowed to query."""
    messages: list = []
    for alias in _postgres_aliases(databases):
        connection = connections[alias]
        if connection.vendor != "postgresql":
            messages.append(
                checks.Error(
                    f"Database {alias!r} uses {connection.vendor!r}; django-segments needs "
                    "PostgreSQL.",
                    id="django_segments.E003",
                )
            )
            continue
        messages.extend(_check_postgres(alias))
    return messages


def server_facts(alias: str) -> tuple[int, bool, bool] | None:
    """``(server_version_num, btree_gist installed, btree_gist available)`` or None."""
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('server_version_num')::int, "
                "EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'btree_gist'), "
                "EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'btree_gist')"
            )
            return cursor.fetchone()
    except DatabaseError:  # pragma: no cover - an unreachable server is reported by Django
        return None


def _check_postgres(alias: str) -> list:
    facts = server_facts(alias)
    if facts is None:  # pragma: no cover
        return []
    version, installed, available = facts
    messages: list = []
    if version < MIN_SERVER_VERSION:
        messages.append(
            checks.Warning(
                f"Database {alias!r} runs PostgreSQL {version // 10000}; django-segments "
                "supports 14 and newer.",
                hint="Upgrade the server; older versions are not tested.",
                id="django_segments.W001",
            )
        )
    if not installed and not available:
        messages.append(
            checks.Error(
                f"The btree_gist extension is not available on database {alias!r}.",
                hint="Install the PostgreSQL contrib package (it ships btree_gist); the "
                "exclusion constraints that forbid overlapping segments need it.",
                id="django_segments.E002",
            )
        )
    return messages
