"""Database router for the connection that runs user-written segment SQL.

Add ``"django_segments.membership.router.SegmentsExecRouter"`` to ``DATABASE_ROUTERS``
when ``SEGMENTS_EXEC_CONNECTION`` names a separate alias (a read-only login on the same
database). The router keeps migrations and ORM reads and writes off that alias, so the
login needs nothing beyond ``SELECT`` on the tables segment SQL may read.
"""

from __future__ import annotations

from typing import Any

from django_segments import conf


def _is_exec_alias(alias: str) -> bool:
    exec_alias = conf.exec_connection()
    return alias == exec_alias and exec_alias != "default"


class SegmentsExecRouter:
    """Never migrate, read or write models through the exec alias."""

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        """No opinion: the exec alias is only used explicitly, by the refresh."""
        return None

    def db_for_write(self, model: type, **hints: Any) -> str | None:
        """No opinion: the exec alias is only used explicitly, by the refresh."""
        return None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        """No opinion."""
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        """False for the exec alias: a read-only login cannot (and must not) migrate."""
        return False if _is_exec_alias(db) else None
