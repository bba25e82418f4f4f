"""Settings of django-segments, one documented accessor each.

Every accessor reads ``django.conf.settings`` at call time, so ``override_settings``
and the pytest-django ``settings`` fixture take effect immediately.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

#: Range field classes by short name; `SEGMENTS_RANGE_FIELDS` replaces or adds entries.
DEFAULT_RANGE_FIELDS: dict[str, str] = {
    "integer": "django.contrib.postgres.fields.IntegerRangeField",
    "big_integer": "django.contrib.postgres.fields.BigIntegerRangeField",
    "decimal": "django.contrib.postgres.fields.DecimalRangeField",
    "date": "django.contrib.postgres.fields.DateRangeField",
    "datetime": "django.contrib.postgres.fields.DateTimeRangeField",
}

#: Older names still read (from the libraries django-segments replaces): alias -> setting.
ALIASES: dict[str, str] = {
    "POSTGRES_RANGE_FIELDS": "SEGMENTS_RANGE_FIELDS",
    "DJANGO_SEGMENTS_MODEL_BASE": "SEGMENTS_MODEL_BASE",
}

_UNSET = object()


def _setting(name: str, default: Any) -> Any:
    """``settings.<name>``, else its older alias from `ALIASES`, else ``default``.

    Both names set to different values raise ``ImproperlyConfigured`` naming both.
    """
    value = getattr(settings, name, _UNSET)
    alias = next((old for old, new in ALIASES.items() if new == name), None)
    aliased = _UNSET if alias is None else getattr(settings, alias, _UNSET)
    if value is not _UNSET and aliased is not _UNSET and value != aliased:
        msg = f"{name} and its older alias {alias} are both set, to different values; keep {name}."
        raise ImproperlyConfigured(msg)
    if value is not _UNSET:
        return value
    return default if aliased is _UNSET else aliased


def range_fields() -> dict[str, Any]:
    """``SEGMENTS_RANGE_FIELDS`` (alias ``POSTGRES_RANGE_FIELDS``): short name -> range
    field class (or dotted path).

    Default: `DEFAULT_RANGE_FIELDS`; entries in the setting replace or add to it.
    """
    merged: dict[str, Any] = dict(DEFAULT_RANGE_FIELDS)
    merged.update(_setting("SEGMENTS_RANGE_FIELDS", {}))
    return {k: import_string(v) if isinstance(v, str) else v for k, v in merged.items()}


def model_base() -> type:
    """``SEGMENTS_MODEL_BASE`` (alias ``DJANGO_SEGMENTS_MODEL_BASE``): the abstract base
    class of spans and segments (a class or a dotted path).

    Default: ``django.db.models.Model``. Read once, when `django_segments.ranges.models`
    is imported.
    """
    value = _setting("SEGMENTS_MODEL_BASE", "django.db.models.Model")
    return import_string(value) if isinstance(value, str) else value


def allow_span_gaps() -> bool:
    """``SEGMENTS_ALLOW_SPAN_GAPS``: default of `SpanConfig.allow_span_gaps`. Default True."""
    return bool(getattr(settings, "SEGMENTS_ALLOW_SPAN_GAPS", True))


def allow_segment_gaps() -> bool:
    """``SEGMENTS_ALLOW_SEGMENT_GAPS``: default of `SpanConfig.allow_segment_gaps`. Default True."""
    return bool(getattr(settings, "SEGMENTS_ALLOW_SEGMENT_GAPS", True))


def soft_delete() -> bool:
    """``SEGMENTS_SOFT_DELETE``: default of `SpanConfig/SegmentConfig.soft_delete`. Default True."""
    return bool(getattr(settings, "SEGMENTS_SOFT_DELETE", True))


def member_model() -> str:
    """``SEGMENTS_MEMBER_MODEL``: the model whose rows user segments contain.

    Default: ``AUTH_USER_MODEL``.
    """
    return str(getattr(settings, "SEGMENTS_MEMBER_MODEL", settings.AUTH_USER_MODEL))


def exec_connection() -> str:
    """``SEGMENTS_EXEC_CONNECTION``: database alias that runs user-written segment SQL.

    Default: ``"default"``. Point it at a read-only login in production; see the
    security model in the docs.
    """
    return str(getattr(settings, "SEGMENTS_EXEC_CONNECTION", "default"))


def statement_timeout_ms() -> int:
    """``SEGMENTS_STATEMENT_TIMEOUT``: milliseconds a segment query may run. Default 30000."""
    return int(getattr(settings, "SEGMENTS_STATEMENT_TIMEOUT", 30_000))


def lock_timeout_ms() -> int:
    """``SEGMENTS_LOCK_TIMEOUT``: milliseconds a segment query may wait for a lock. Default 5000."""
    return int(getattr(settings, "SEGMENTS_LOCK_TIMEOUT", 5_000))


def sql_max_length() -> int:
    """``SEGMENTS_SQL_MAX_LENGTH``: characters a segment's SQL may have. Default 20000.

    A longer text is refused before it is parsed (parsing 1.5 MB took 15 s). At most
    1,000,000; anything else than an integer from 1 to that raises ``ImproperlyConfigured``.
    """
    value = getattr(settings, "SEGMENTS_SQL_MAX_LENGTH", 20_000)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
        msg = f"SEGMENTS_SQL_MAX_LENGTH must be an integer from 1 to 1000000; got {value!r}"
        raise ImproperlyConfigured(msg)
    return value


def sql_extra_functions() -> frozenset[str]:
    """``SEGMENTS_SQL_EXTRA_FUNCTIONS``: further functions segment SQL may call. Default empty.

    Names as a query spells them, lowercase unless quoted: ``"unaccent"`` allows
    ``unaccent(...)``, ``"public.unaccent"`` allows ``public.unaccent(...)``. The library
    does not check what they do: list only functions that neither change state nor run
    SQL text. PostgreSQL's own are listed in ``membership/builtin_functions.txt``.
    """
    value = getattr(settings, "SEGMENTS_SQL_EXTRA_FUNCTIONS", ())
    if isinstance(value, str) or not all(isinstance(name, str) for name in value):
        msg = f"SEGMENTS_SQL_EXTRA_FUNCTIONS must be a list of function names; got {value!r}"
        raise ImproperlyConfigured(msg)
    return frozenset(value)


def refresh_batch_size() -> int:
    """``SEGMENTS_REFRESH_BATCH_SIZE``: ids streamed per batch during a refresh. Default 10000."""
    return int(getattr(settings, "SEGMENTS_REFRESH_BATCH_SIZE", 10_000))


def refresh_work_mem() -> str | None:
    """``SEGMENTS_REFRESH_WORK_MEM``: ``work_mem`` for a refresh's transaction. Default ``"64MB"``.

    The diff hash-joins the selected ids with the current members; with the server's
    default (4MB) a segment of a million members spills to disk. ``None`` keeps the
    server's value.
    """
    value = getattr(settings, "SEGMENTS_REFRESH_WORK_MEM", "64MB")
    return None if value is None else str(value)


def refresh_runs_keep() -> int | None:
    """``SEGMENTS_REFRESH_RUNS_KEEP``: `RefreshRun` rows kept per user segment. Default 100.

    Each refresh deletes the segment's older runs in its own transaction; ``None`` keeps
    every run. Membership history (closed periods) is not affected. Anything else than
    None or a positive integer raises ``ImproperlyConfigured``.
    """
    value = getattr(settings, "SEGMENTS_REFRESH_RUNS_KEEP", 100)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"SEGMENTS_REFRESH_RUNS_KEEP must be None or a positive integer; got {value!r}"
        raise ImproperlyConfigured(msg)
    return value


def refresh_on_save() -> str | None:
    """``SEGMENTS_REFRESH_ON_SAVE``: ``"sync"``, ``"task"`` or ``None`` (off). Default None.

    ``True`` means ``"sync"`` and ``False`` means off, as in groveco's django-segments.
    """
    value = getattr(settings, "SEGMENTS_REFRESH_ON_SAVE", None)
    if isinstance(value, bool):
        return "sync" if value else None
    return None if value is None else str(value)


def refresh_queue() -> str | None:
    """``SEGMENTS_REFRESH_QUEUE``: where refreshes asked for outside a worker go. Default None.

    ``"django"`` (Django's tasks framework), ``"celery"`` (`django_segments.contrib.celery`),
    the dotted path of a callable that takes a segment id and enqueues its refresh, or
    None: the admin refreshes inside the request. See the scaling guide.
    """
    value = getattr(settings, "SEGMENTS_REFRESH_QUEUE", None)
    return None if value is None else str(value)


def replica_wait() -> float | None:
    """``SEGMENTS_REPLICA_WAIT``: seconds segment SQL waits for a standby to catch up. Default 30.

    When ``SEGMENTS_EXEC_CONNECTION`` is a streaming standby, user SQL runs only once the
    standby has replayed the writer's WAL as of the refresh's start; a standby still
    behind after this long fails the refresh. None runs at once on whatever the standby
    has replayed.
    """
    value = getattr(settings, "SEGMENTS_REPLICA_WAIT", 30)
    return None if value is None else float(value)


def condition_definitions_module() -> str | None:
    """``SEGMENTS_CONDITIONS``: dotted path of the module holding your condition classes.

    Default: None, an empty registry. Read by `django_segments.conditions.default_definitions`.
    """
    value = getattr(settings, "SEGMENTS_CONDITIONS", None)
    return None if value is None else str(value)
