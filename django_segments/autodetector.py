"""``makemigrations``: a project's migration that needs ``btree_gist`` depends on ours.

A segment model's no-overlap constraint (``span_id WITH =`` in a GiST index) needs the
``btree_gist`` extension, which our ``0001_btree_gist`` creates. Django adds no
dependency for it: the segment model's bases are abstract and it has no relation to a
model of ours. The autodetector below adds ``("django_segments", "0001_btree_gist")`` to
each generated migration that creates such a constraint, so ``migrate`` runs ours first.
"""

from __future__ import annotations

from typing import Any, cast

from django.db.migrations import operations
from django.db.migrations.autodetector import MigrationAutodetector

#: The migration that creates the ``btree_gist`` extension.
BTREE_GIST_MIGRATION = ("django_segments", "0001_btree_gist")


def needs_btree_gist(operation: Any) -> bool:
    """Whether ``operation`` creates a segment model's no-overlap constraint."""
    from django_segments.ranges.ddl import SegmentExclusionConstraint  # noqa: PLC0415

    if isinstance(operation, operations.AddConstraint):
        constraints = [operation.constraint]
    elif isinstance(operation, operations.CreateModel):
        constraints = operation.options.get("constraints", [])
    else:
        return False
    return any(isinstance(constraint, SegmentExclusionConstraint) for constraint in constraints)


class BtreeGistDependencyMixin:
    """Mixed into the ``makemigrations`` / ``migrate`` autodetector by `install`."""

    def changes(self, graph: Any, *args: Any, **kwargs: Any) -> dict[str, list[Any]]:
        """Django's changes, plus the dependency on `BTREE_GIST_MIGRATION` where needed."""
        changes: dict[str, list[Any]] = super().changes(graph, *args, **kwargs)  # type: ignore[misc]
        for app_label, migrations in changes.items():
            if app_label == BTREE_GIST_MIGRATION[0]:
                continue
            for migration in migrations:
                needed = any(needs_btree_gist(operation) for operation in migration.operations)
                if needed and BTREE_GIST_MIGRATION not in migration.dependencies:
                    migration.dependencies.append(BTREE_GIST_MIGRATION)
        return changes


def _with_mixin(autodetector: type[MigrationAutodetector]) -> type[MigrationAutodetector]:
    if issubclass(autodetector, BtreeGistDependencyMixin):
        return autodetector
    mixed = type("MigrationAutodetector", (BtreeGistDependencyMixin, autodetector), {})
    return cast("type[MigrationAutodetector]", mixed)


def install() -> None:
    """Mix `BtreeGistDependencyMixin` into the autodetector of ``makemigrations`` and ``migrate``.

    NOTE - ``Command.autodetector`` is Django's hook for this (5.2+), and both commands
    must share one class (system check ``commands.E001``). django-pgtrigger sets both in
    its own ``ready()`` from ``makemigrations.MigrationAutodetector``, mixing in its
    trigger detection; that module attribute gets the mixin too, so the two compose in
    whichever order ``INSTALLED_APPS`` lists the apps.
    """
    from django.core.management.commands import makemigrations, migrate  # noqa: PLC0415

    mixed = _with_mixin(makemigrations.Command.autodetector)
    makemigrations.MigrationAutodetector = mixed  # type: ignore[attr-defined]
    makemigrations.Command.autodetector = mixed
    migrate.Command.autodetector = mixed
