"""System checks of django-segments (ids ``django_segments.E0xx`` / ``W0xx``).

| id | level | meaning |
|---|---|---|
| E001 | error | ``pgtrigger`` is not in ``INSTALLED_APPS`` |
| E002 | error | the ``btree_gist`` extension is neither installed nor available |
| E003 | error | a database used by the library is not PostgreSQL |
| E004 | error | pgtrigger's model Meta or migration integration is turned off |
| E010 | error | a span model with ``allow_span_gaps=False`` has no segment model |
| W001 | warning | PostgreSQL older than 14 |
| W002 | warning | a constraint trigger of a segment model is missing from the database |
| W003 | warning | an installed trigger of a segment model differs from the one the model generates |
| W010 | warning | a span model has no segment model |
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
                    f"Database {alias!r} uses {connection.vendor!r}; django-segments needs PostgreSQL.",
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


def _span_models() -> list[Any]:
    from django_segments.ranges.models import AbstractSpan  # noqa: PLC0415

    return [m for m in apps.get_models() if issubclass(m, AbstractSpan)]


@checks.register(checks.Tags.models)
def check_range_models(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list:
    """E004: pgtrigger integration off; E010 / W010: a span model without a segment model."""
    import pgtrigger.features  # noqa: PLC0415

    messages: list = []
    spans = _span_models()
    if spans and not (pgtrigger.features.model_meta() and pgtrigger.features.migrations()):
        messages.append(
            checks.Error(
                "PGTRIGGER_MODEL_META or PGTRIGGER_MIGRATIONS is False: the span and segment "
                "triggers would not be installed by migrations.",
                hint="Remove those settings (both default to True).",
                id="django_segments.E004",
            )
        )
    for span in spans:
        if getattr(span, "_segment_model", None) is not None:
            continue
        strict = not span._span_options_value.allow_span_gaps
        cls = checks.Error if strict else checks.Warning
        messages.append(
            cls(
                f"{span._meta.label} has no segment model."
                + (" With allow_span_gaps=False it cannot even be created." if strict else ""),
                hint="Declare a subclass of AbstractSegment whose SegmentConfig.span_model names it.",
                obj=span,
                id="django_segments.E010" if strict else "django_segments.W010",
            )
        )
    return messages


@checks.register(checks.Tags.database)
def check_triggers_installed(
    app_configs: Sequence[Any] | None = None,
    databases: Iterable[str] | None = None,
    **kwargs: Any,
) -> list:
    """W002: triggers enforcing span invariants are missing from the database. W003: an
    installed one differs from what the model generates now (an older template version,
    or a configuration changed without ``makemigrations``); pgtrigger keeps the hash of
    what it installed in the trigger's comment."""
    import pgtrigger  # noqa: PLC0415
    from django.db import router  # noqa: PLC0415

    from django_segments.ranges.ddl import ENFORCING  # noqa: PLC0415

    expected: dict[str, list[tuple[Any, Any]]] = {}
    registered: list[tuple[Any, Any]] = list(pgtrigger.registered())
    for model, trigger in registered:
        if isinstance(trigger, ENFORCING):
            expected.setdefault(router.db_for_write(model), []).append((model, trigger))
    messages: list = []
    for alias in _postgres_aliases(databases):
        wanted = [(model, trigger.get_pgid(model), trigger) for model, trigger in expected.get(alias, [])]
        if not wanted or connections[alias].vendor != "postgresql":
            continue
        with connections[alias].cursor() as cursor:
            cursor.execute(
                "SELECT t.tgname, obj_description(t.oid, 'pg_trigger') FROM pg_trigger t"
                " WHERE t.tgname = ANY(%s)",
                [[name for _, name, _ in wanted]],
            )
            installed = dict(cursor.fetchall())
        for model, name, trigger in wanted:
            if name not in installed:
                messages.append(
                    checks.Warning(
                        f"Trigger {name} enforcing span invariants of {model._meta.label} is not "
                        f"installed in database {alias!r}.",
                        hint="Run migrate; without it Postgres does not check containment and gaps.",
                        obj=model,
                        id="django_segments.W002",
                    )
                )
            elif installed[name] != trigger.compile(model).sql.hash:
                messages.append(
                    checks.Warning(
                        f"Trigger {name} of {model._meta.label} in database {alias!r} is not the "
                        "one the model generates now (an older template version, or a changed "
                        "configuration).",
                        hint="Run makemigrations and migrate; see Upgrading in the documentation.",
                        obj=model,
                        id="django_segments.W003",
                    )
                )
    return messages
