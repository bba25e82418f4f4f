"""System checks of django-segments (ids ``django_segments.E0xx`` / ``W0xx``).

| id | level | meaning |
|---|---|---|
| E001 | error | ``pgtrigger`` is not in ``INSTALLED_APPS`` |
| E002 | error | the ``btree_gist`` extension is neither installed nor available |
| E003 | error | a database used by the library is not PostgreSQL |
| E004 | error | pgtrigger's model Meta or migration integration is turned off |
| E010 | error | a span model with ``allow_span_gaps=False`` has no segment model |
| E020 | error | ``SEGMENTS_EXEC_CONNECTION`` names no alias of ``DATABASES`` |
| E021 | error (``--deploy``) | the login running user SQL can write the library's tables or is a superuser |
| W001 | warning | PostgreSQL older than 14 |
| W002 | warning | a constraint trigger of a segment model is missing from the database |
| W003 | warning | an installed trigger of a segment model differs from the one the model generates |
| W010 | warning | a span model has no segment model |
| W020 | warning | user SQL runs as the login that writes membership (``SEGMENTS_EXEC_CONNECTION``) |

W002 and W003 leave out triggers that an unapplied migration adds: ``migrate`` runs the
checks before it applies anything, and is about to install those.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.apps import apps
from django.core import checks
from django.db import connections
from django.db.utils import DatabaseError

from django_segments import conf

MIN_SERVER_VERSION = 140000
SECURITY_HINT = (
    "Point SEGMENTS_EXEC_CONNECTION at an alias whose login is not a superuser and may only "
    "SELECT the tables segment authors may read; see the security model for user SQL "
    "(docs/security.md)."
)


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


def pending_triggers(alias: str) -> set[tuple[str, str, str | None]]:
    """``(app_label, model_name, trigger name)`` of each trigger that an unapplied
    migration of database ``alias`` adds (pgtrigger's ``AddTrigger``)."""
    from django.db.migrations.loader import MigrationLoader  # noqa: PLC0415
    from pgtrigger.migrations import AddTrigger  # noqa: PLC0415

    loader = MigrationLoader(connections[alias], ignore_no_migrations=True)
    applied = set(loader.applied_migrations or ())
    return {
        (app_label, operation.model_name.lower(), operation.trigger.name)
        for (app_label, name), migration in loader.graph.nodes.items()
        if (app_label, name) not in applied
        for operation in migration.operations
        if isinstance(operation, AddTrigger)
    }


@checks.register(checks.Tags.database)
def check_triggers_installed(
    app_configs: Sequence[Any] | None = None,
    databases: Iterable[str] | None = None,
    **kwargs: Any,
) -> list:
    """W002: triggers enforcing span invariants are missing from the database. W003: an
    installed one differs from what the model generates now (an older template version,
    or a configuration changed without ``makemigrations``); pgtrigger keeps the hash of
    what it installed in the trigger's comment. Triggers that an unapplied migration adds
    are left out: the next ``migrate`` installs them."""
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
        if not expected.get(alias) or connections[alias].vendor != "postgresql":
            continue
        pending = pending_triggers(alias)
        wanted = [
            (model, trigger.get_pgid(model), trigger)
            for model, trigger in expected[alias]
            if (model._meta.app_label, model._meta.model_name, trigger.name) not in pending
        ]
        messages.extend(_trigger_messages(alias, wanted))
    return messages


def _trigger_messages(alias: str, wanted: list[tuple[Any, str, Any]]) -> list:
    """W002 / W003 for the ``(model, installed name, trigger)`` triples in ``wanted``."""
    if not wanted:
        return []
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT t.tgname, obj_description(t.oid, 'pg_trigger') FROM pg_trigger t"
            " WHERE t.tgname = ANY(%s)",
            [[name for _, name, _ in wanted]],
        )
        installed = dict(cursor.fetchall())
    messages: list = []
    for model, name, trigger in wanted:
        if name not in installed:
            messages.append(
                checks.Warning(
                    f"Trigger {name} enforcing span invariants of {model._meta.label} is not "
                    f"installed in database {alias!r}.",
                    hint="Run makemigrations and migrate; without it Postgres does not check "
                    "containment and gaps.",
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


def _login(alias: str) -> tuple[str, ...]:
    """Server, port, database and user of ``alias``: what tells two logins apart."""
    settings = connections.settings[alias]
    return tuple(str(settings.get(key) or "") for key in ("HOST", "PORT", "NAME", "USER"))


def _writer_alias() -> str:
    from django_segments.membership.refresh import writer_alias  # noqa: PLC0415

    return writer_alias()


@checks.register(checks.Tags.security)
def check_exec_connection(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list:
    """E020: ``SEGMENTS_EXEC_CONNECTION`` is not an alias; W020: it is the writer's login."""
    alias = conf.exec_connection()
    if alias not in connections.settings:
        return [
            checks.Error(
                f"SEGMENTS_EXEC_CONNECTION is {alias!r}, which is not an alias of DATABASES.",
                hint=SECURITY_HINT,
                id="django_segments.E020",
            )
        ]
    writer = _writer_alias()
    if _login(alias) != _login(writer):
        return []
    return [
        checks.Warning(
            f"User-written segment SQL runs as the application's own database login: "
            f"SEGMENTS_EXEC_CONNECTION is {alias!r}, the login of {writer!r}, which writes "
            "the membership tables.",
            hint=SECURITY_HINT,
            id="django_segments.W020",
        )
    ]


@checks.register(checks.Tags.security, checks.Tags.database, deploy=True)
def check_exec_login_deploy(
    app_configs: Sequence[Any] | None = None,
    databases: Iterable[str] | None = None,
    **kwargs: Any,
) -> list:
    """E021 (``check --deploy``): the login running user SQL can write the library's tables
    or is a superuser. Known from the settings when it is the writer's login; asked of the
    server when the check may query the exec alias (``--database <alias>``)."""
    alias = conf.exec_connection()
    if alias not in connections.settings:
        return []  # E020
    writer = _writer_alias()
    reasons = []
    if _login(alias) == _login(writer):
        reasons.append(f"is the login of {writer!r}, which writes the membership tables")
    if alias in (databases or ()) and connections[alias].vendor == "postgresql":
        reasons.extend(exec_login_powers(alias))
    if not reasons:
        return []
    return [
        checks.Error(
            f"The login that runs user-written segment SQL (alias {alias!r}) " + " and ".join(reasons) + ".",
            hint=SECURITY_HINT,
            id="django_segments.E021",
        )
    ]


def exec_login_powers(alias: str) -> list[str]:
    """What the login of ``alias`` may do that segment SQL must not: be a superuser, write
    (``INSERT``, ``UPDATE``, ``DELETE`` or ``TRUNCATE``) a table of the library."""
    models = apps.get_app_config("django_segments").get_models()
    tables = [model._meta.db_table for model in models if model._meta.managed]
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute(
                "SELECT r.rolsuper, coalesce(array_agg(t.name ORDER BY t.name) FILTER (WHERE "
                "has_table_privilege(to_regclass(t.name)::oid, 'INSERT, UPDATE, DELETE, TRUNCATE')), '{}') "
                "FROM pg_roles AS r, unnest(%s::text[]) AS t(name) "
                "WHERE r.rolname = current_user GROUP BY r.rolsuper",
                [tables],
            )
            superuser, writable = cursor.fetchone()
    except DatabaseError:  # pragma: no cover - an unreachable server is reported by Django
        return []
    powers = ["is a superuser"] if superuser else []
    if writable:
        powers.append(f"can write {', '.join(writable)}")
    return powers
