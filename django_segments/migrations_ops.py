"""Migration operations shipped with django-segments."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError, router
from django.db.migrations.operations.base import Operation

from django_segments.exceptions import SegmentsError


class ExtensionError(SegmentsError, RuntimeError):
    """A required Postgres extension cannot be created by the migrating role."""


class CreateBtreeGist(Operation):
    """Create the ``btree_gist`` extension unless it exists, with a clear error if we may not.

    ``btree_gist`` provides the GiST ``=`` operator class on scalar columns that the
    exclusion constraint ``(span_id WITH =, segment_range WITH &&)`` needs.
    """

    reversible = True
    extension = "btree_gist"

    def state_forwards(self, app_label: str, state: Any) -> None:
        """Extensions have no model state."""

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        """Create the extension, translating a permission failure into `ExtensionError`."""
        connection = schema_editor.connection
        if connection.vendor != "postgresql" or not router.allow_migrate(connection.alias, app_label):
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_extension WHERE extname = %s", [self.extension])
            if cursor.fetchone():
                return
        try:
            with connection.cursor() as cursor, _savepoint(connection):
                cursor.execute(f"CREATE EXTENSION IF NOT EXISTS {self.extension}")
        except DatabaseError as exc:
            database = connection.settings_dict.get("NAME")
            user = connection.settings_dict.get("USER")
            msg = (
                f"Could not create the PostgreSQL extension {self.extension!r} in database "
                f"{database!r} as role {user!r}: {str(exc).strip()}. Ask a superuser (or the "
                f"database owner) to run: CREATE EXTENSION {self.extension};  then migrate again."
            )
            raise ExtensionError(msg) from exc

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        """Leave the extension in place: other objects may depend on it."""

    def describe(self) -> str:
        """Human-readable description for ``sqlmigrate`` and ``migrate --plan``."""
        return f"Create extension {self.extension}"

    @property
    def migration_name_fragment(self) -> str:
        """Name fragment used by ``makemigrations``."""
        return f"create_extension_{self.extension}"


def _savepoint(connection: Any) -> Any:
    from django.db import transaction  # noqa: PLC0415

    return transaction.atomic(using=connection.alias)


def ensure_btree_gist(schema_editor: Any) -> None:
    """Create ``btree_gist`` if missing, before a constraint that needs it.

    With ``sqlmigrate`` (SQL collected, not run) the statement is shown instead.
    """
    if getattr(schema_editor, "collect_sql", False):
        schema_editor.execute(f"CREATE EXTENSION IF NOT EXISTS {CreateBtreeGist.extension}")
        return
    CreateBtreeGist().database_forwards("django_segments", schema_editor, None, None)
