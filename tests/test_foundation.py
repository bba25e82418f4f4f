"""The foundation: system checks, the btree_gist migration, the embedded server helper."""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from django.contrib.postgres.fields import DateRangeField
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections, models
from django.db.backends.postgresql.base import DatabaseWrapper
from django.test.utils import override_settings

import django_segments
from django_segments import checks as segment_checks
from django_segments import conf
from django_segments.migrations_ops import CreateBtreeGist, ExtensionError
from django_segments.ranges.kinds import resolve_kind


def _ids(messages: list) -> list[str]:
    return sorted(m.id for m in messages)


def test_public_namespace_is_sorted_and_resolves() -> None:
    assert django_segments.__all__ == sorted(django_segments.__all__)
    assert django_segments.__version__
    for name in django_segments.__all__:
        assert getattr(django_segments, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        django_segments.nope  # noqa: B018


def test_e001_reported_when_pgtrigger_missing(settings) -> None:
    assert segment_checks.check_pgtrigger_installed() == []
    apps_without = [a for a in settings.INSTALLED_APPS if a != "pgtrigger"]
    with override_settings(INSTALLED_APPS=apps_without):
        messages = segment_checks.check_pgtrigger_installed()
    assert _ids(messages) == ["django_segments.E001"]
    assert "pgtrigger" in messages[0].msg
    assert messages[0].level == checks.ERROR


@pytest.mark.django_db
def test_database_checks_pass_on_the_server_under_test() -> None:
    messages = checks.run_checks(databases=["default"], tags=[checks.Tags.database])
    assert [m for m in messages if m.id.startswith("django_segments")] == []


@pytest.mark.django_db
def test_e002_when_btree_gist_unavailable(monkeypatch) -> None:
    version, _, _ = segment_checks.server_facts("default")
    monkeypatch.setattr(segment_checks, "server_facts", lambda alias: (version, False, False))
    messages = segment_checks.check_database(databases=["default"])
    assert _ids(messages) == ["django_segments.E002"]
    assert "btree_gist" in messages[0].msg


@pytest.mark.django_db
def test_w001_for_postgres_older_than_14(monkeypatch) -> None:
    monkeypatch.setattr(segment_checks, "server_facts", lambda alias: (130011, True, True))
    messages = segment_checks.check_database(databases=["default"])
    assert _ids(messages) == ["django_segments.W001"]
    assert "PostgreSQL 13" in messages[0].msg


@pytest.mark.django_db
def test_e003_for_a_non_postgres_database(monkeypatch) -> None:
    monkeypatch.setattr(connection, "vendor", "sqlite")
    messages = segment_checks.check_database(databases=["default"])
    assert _ids(messages) == ["django_segments.E003"]


@pytest.mark.django_db
def test_migrated_database_has_btree_gist() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension WHERE extname = 'btree_gist'")
        assert cursor.fetchone() == ("btree_gist",)


def _admin_conninfo(dbname: str | None = None) -> dict:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    params.pop("server_side_binding", None)
    if dbname:
        params["dbname"] = dbname
    return params


@pytest.fixture
def scratch_database():
    """A new empty database plus a login role with no CREATE privilege on it."""
    suffix = uuid.uuid4().hex[:8]
    dbname, role = f"segments_ext_{suffix}", f"segments_noext_{suffix}"
    with psycopg.connect(**_admin_conninfo(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{dbname}"')
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        yield dbname, role
    finally:
        with psycopg.connect(**_admin_conninfo(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')


@contextmanager
def _connection_as(dbname: str, user: str) -> Iterator[DatabaseWrapper]:
    """A Django connection to ``dbname`` as ``user``, registered under a temporary alias."""
    alias = f"probe_{dbname}"
    settings_dict = {**connection.settings_dict, "NAME": dbname, "USER": user, "PASSWORD": ""}
    wrapper = DatabaseWrapper(settings_dict, alias=alias)
    connections[alias] = wrapper
    try:
        yield wrapper
    finally:
        wrapper.close()
        del connections[alias]


def _has_extension(dbname: str) -> bool:
    with psycopg.connect(**_admin_conninfo(dbname)) as conn:
        row = conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'btree_gist'")
        return row.fetchone()[0] == 1


def test_extension_migration_fails_clearly_without_privilege(scratch_database, django_db_blocker) -> None:
    dbname, role = scratch_database
    with (
        django_db_blocker.unblock(),
        _connection_as(dbname, role) as wrapper,
        pytest.raises(ExtensionError) as excinfo,
        wrapper.schema_editor() as editor,
    ):
        CreateBtreeGist().database_forwards("django_segments", editor, None, None)
    message = str(excinfo.value)
    assert "btree_gist" in message
    assert dbname in message
    assert role in message
    assert "CREATE EXTENSION btree_gist" in message
    assert not _has_extension(dbname)


def test_extension_migration_creates_it_with_privilege(scratch_database, django_db_blocker) -> None:
    dbname, role = scratch_database
    with psycopg.connect(**_admin_conninfo(), autocommit=True) as admin:
        # NOTE - btree_gist is a trusted extension (PG 13+): CREATE on the database suffices.
        admin.execute(f'GRANT CREATE ON DATABASE "{dbname}" TO "{role}"')
    with django_db_blocker.unblock(), _connection_as(dbname, role) as wrapper:
        with wrapper.schema_editor() as editor:
            CreateBtreeGist().database_forwards("django_segments", editor, None, None)
        # Running it again is a no-op, not an error.
        with wrapper.schema_editor() as editor:
            CreateBtreeGist().database_forwards("django_segments", editor, None, None)
    assert _has_extension(dbname)


def test_database_url_is_exported_for_child_processes() -> None:
    from django_segments.testing import database_url

    assert os.environ["DATABASE_URL"] == database_url()


def test_all_lists_exactly_the_lazy_names() -> None:
    assert set(django_segments.__all__) == {*django_segments._LAZY, "__version__"}


def test_type_checkers_import_exactly_the_lazy_names() -> None:
    """The imports under ``TYPE_CHECKING`` and the lazy table name the same modules."""
    tree = ast.parse(Path(django_segments.__file__).read_text())
    (block,) = (n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    imported = {
        alias.name: node.module
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert imported == django_segments._LAZY


def test_segment_tables_create_btree_gist_when_missing(scratch_database, django_db_blocker) -> None:
    """A project's segment migration may run before ours: the constraint brings btree_gist."""
    from tests.testapp.models import IntSegment, IntSpan

    dbname, _ = scratch_database
    assert not _has_extension(dbname)
    with django_db_blocker.unblock(), _connection_as(dbname, connection.settings_dict["USER"]) as wrapper:
        with wrapper.schema_editor() as editor:
            editor.create_model(IntSpan)  # its triggers name the segment table, made next
            editor.create_model(IntSegment)
        with wrapper.cursor() as cursor:
            cursor.execute(
                "SELECT contype FROM pg_constraint WHERE conname = %s",
                [f"{IntSegment._meta.db_table}_no_overlap"],
            )
            assert cursor.fetchone() == ("x",)
    assert _has_extension(dbname)


@pytest.mark.django_db
def test_migrations_match_the_models() -> None:
    """Generated DDL (constraints, triggers) lives in migrations: they must be current."""
    from django.core.management import call_command

    try:
        call_command("makemigrations", "--check", "--dry-run", verbosity=0)
    except SystemExit as exc:  # makemigrations --check exits 1 when a migration is missing
        pytest.fail(f"models changed without a migration (exit {exc.code}); run makemigrations")


def environ_without_database_url() -> dict[str, str]:
    """This process's environment without ``DATABASE_URL``: a child started with it starts
    an embedded server of its own (or, by design, does not)."""
    return {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}


def assert_server_stopped(pid: int, pgdata: str, owner: str) -> None:
    """The embedded server ``pid`` exits within 15 s and its data directory is gone."""
    import time

    import psutil

    deadline = time.monotonic() + 15
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not psutil.pid_exists(pid), f"the embedded server outlived {owner}"
    assert not os.path.exists(pgdata)


def test_embedded_server_stops_when_its_process_is_terminated(tmp_path) -> None:
    """SIGTERM (a CI timeout, ctrl-c in a wrapper) must not leave a server behind."""
    import signal

    import psutil

    script = (
        "import os, sys, time\n"
        "os.environ.pop('DATABASE_URL', None)\n"
        "from django_segments.testing import postgres\n"
        "server = postgres.embedded_server()\n"
        "print(server.get_pid(), server.pgdata, flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen(  # noqa: S603 - fixed interpreter and script
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=environ_without_database_url()
    )
    try:
        pid, pgdata = child.stdout.readline().split()
        assert psutil.pid_exists(int(pid))
        child.send_signal(signal.SIGTERM)
        child.wait(30)
        assert_server_stopped(int(pid), pgdata, "its process")
    finally:
        if child.poll() is None:
            child.kill()


def test_the_type_checker_settings_start_no_server() -> None:
    """mypy's Django plugin imports `tests.settings_typecheck` and exits without running
    ``atexit``: with DATABASE_URL unset those settings must not start an embedded server
    (one would be left running)."""

    script = (
        "import tests.settings_typecheck as s\n"
        "from django_segments.testing import postgres\n"
        "print(postgres._server is None, s.DATABASES['default']['NAME'])\n"
    )
    done = subprocess.run(  # noqa: S603 - fixed interpreter and script
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environ_without_database_url(),
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == ["True", "typecheck-only"]


# --- settings: one prefix, one accessor each, documented ----------------------------------

SETTINGS_DOC = Path(__file__).resolve().parent.parent / "docs" / "settings.md"
#: (setting, its older alias)
ALIASES = [
    ("SEGMENTS_RANGE_FIELDS", "POSTGRES_RANGE_FIELDS"),
    ("SEGMENTS_MODEL_BASE", "DJANGO_SEGMENTS_MODEL_BASE"),
]


def _documented_settings() -> dict[str, tuple[str, str]]:
    """Rows of the table in docs/settings.md: setting -> (default, accessor)."""
    rows = re.findall(r"^\| `([A-Z_]+)` \| (.+?) \| `conf\.([a-z_]+)\(\)` \|", SETTINGS_DOC.read_text(), re.M)
    return {name: (default.strip(), accessor) for name, default, accessor in rows}


def _settings_read_by_conf() -> set[str]:
    """Names ``conf.py`` reads: first arguments of ``getattr(settings, ...)`` / ``_setting(...)``."""
    tree = ast.parse(Path(conf.__file__).read_text())
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        args = node.args[1:2] if node.func.id == "getattr" else node.args[:1]
        if node.func.id in {"getattr", "_setting"} and args and isinstance(args[0], ast.Constant):
            names.add(args[0].value)
    return names - {"AUTH_USER_MODEL"}  # Django's own, the default of SEGMENTS_MEMBER_MODEL


def test_every_setting_has_the_one_prefix_and_a_documented_accessor() -> None:
    documented = _documented_settings()
    read = _settings_read_by_conf()
    assert read, "no setting found in conf.py"
    assert {name for name in read if not name.startswith("SEGMENTS_")} == set()
    assert read == set(documented), "docs/settings.md and conf.py name different settings"
    accessors = {
        name
        for name, value in vars(conf).items()
        if inspect.isfunction(value) and value.__module__ == conf.__name__ and not name.startswith("_")
    }
    assert accessors == {accessor for _, accessor in documented.values()}
    for name, (default, _) in documented.items():
        assert default, f"{name} has no default in docs/settings.md"


def test_the_aliases_are_documented_as_older_names() -> None:
    text = SETTINGS_DOC.read_text()
    assert {(name, alias) for alias, name in conf.ALIASES.items()} == set(ALIASES)
    older = text.split("## Older names", 1)[1].split("\n## ", 1)[0]
    assert "deprecated" in older
    for name, alias in ALIASES:
        assert f"| `{alias}` | `{name}` |" in older, alias


class _Base(models.Model):
    class Meta:
        abstract = True
        app_label = "testapp"


class _MyDateRangeField(DateRangeField):
    pass


def test_range_fields_reads_the_segments_name(settings) -> None:
    settings.SEGMENTS_RANGE_FIELDS = {"my_date": _MyDateRangeField}
    assert conf.range_fields()["my_date"] is _MyDateRangeField
    assert conf.range_fields()["date"] is DateRangeField
    assert resolve_kind("my_date", "MySpan.SpanConfig").field_class is _MyDateRangeField


def test_range_fields_reads_its_alias(settings) -> None:
    settings.POSTGRES_RANGE_FIELDS = {"my_date": f"{__name__}._MyDateRangeField"}
    assert conf.range_fields()["my_date"] is _MyDateRangeField


def test_model_base_reads_the_segments_name_and_its_alias(settings) -> None:
    assert conf.model_base() is models.Model
    settings.SEGMENTS_MODEL_BASE = f"{__name__}._Base"
    assert conf.model_base() is _Base
    del settings.SEGMENTS_MODEL_BASE
    settings.DJANGO_SEGMENTS_MODEL_BASE = _Base
    assert conf.model_base() is _Base
    settings.SEGMENTS_MODEL_BASE = _Base  # the same value under both names is fine
    assert conf.model_base() is _Base


@pytest.mark.parametrize(("name", "alias"), ALIASES)
def test_a_setting_and_its_alias_with_different_values_are_refused(settings, name, alias) -> None:
    setattr(settings, name, {"a": f"{__name__}._MyDateRangeField"})
    setattr(settings, alias, {"b": f"{__name__}._MyDateRangeField"})
    accessor = {"SEGMENTS_RANGE_FIELDS": conf.range_fields, "SEGMENTS_MODEL_BASE": conf.model_base}[name]
    with pytest.raises(ImproperlyConfigured, match=f"{name} and its older alias {alias}"):
        accessor()


# --- the flat namespace is typed --------------------------------------------------------

#: Must type-check: subclasses of the flat names are not subclasses of ``Any``.
TYPED_SNIPPET = """\
# mypy: disallow-subclassing-any, disallow-untyped-defs, disallow-any-generics
from django.db import models

import django_segments as ds


class Contract(ds.AbstractSpan):
    class SpanConfig:
        range_field_type = "integer"


class Period(ds.AbstractSegment):
    note = models.TextField(default="")

    class SegmentConfig:
        span_model = Contract


def describe(error: ds.SegmentsError) -> str:
    return str(error)


refused: type[ds.SegmentsError] = ds.OverlapError
reveal_type(ds.AbstractSpan)
reveal_type(ds.parse)
"""

#: Must fail, one error per line named: the names have types, and misspelt names do not exist.
UNTYPED_SNIPPET = """\
import django_segments as ds

count: int = ds.OverlapError
ds.AbstractSpann
ds.UserSegment.objects.refresh_all_now()
"""
UNTYPED_ERRORS = {3: "assignment", 4: "attr-defined", 5: "attr-defined"}


ROOT = Path(__file__).resolve().parent.parent


#: Where mypy reads the snippets, with its cache beside them.
SNIPPETS = ROOT / ".cache" / "typing-snippets"


def write_snippets(where: Path) -> tuple[Path, Path]:
    """The typed and the untyped snippet, written to files in ``where``."""
    where.mkdir(parents=True, exist_ok=True)
    typed, untyped = where / "typed_use.py", where / "untyped_use.py"
    typed.write_text(TYPED_SNIPPET)
    untyped.write_text(UNTYPED_SNIPPET)
    return typed, untyped


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed interpreter and arguments
        args, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_flat_namespace_is_typed_for_mypy() -> None:
    """``import django_segments as ds; class MySpan(ds.AbstractSpan)`` is a typed subclass.

    NOTE - the snippets are always at the same paths, so that mypy's cache can be kept:
    the cache holds a module's messages with the path it was read from, and reports them
    again, old path included, for a file of the same name and content elsewhere.
    """
    typed, untyped = write_snippets(SNIPPETS)
    done = _run(
        sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
        "--cache-dir", str(SNIPPETS / "mypy"), "--show-error-codes", "--no-pretty", str(typed), str(untyped),
    )  # fmt: skip
    lines = done.stdout.splitlines()
    typed_lines = [line for line in lines if re.match(r"(.*/)?typed_use\.py:", line)]
    assert [line for line in typed_lines if ": error:" in line] == [], done.stdout
    revealed = [line.split("Revealed type is ", 1)[1] for line in typed_lines if "Revealed type" in line]
    assert len(revealed) == 2, done.stdout
    assert "django_segments.ranges.models.AbstractSpan" in revealed[0]
    assert "django_segments.conditions.tree.Node" in revealed[1]
    errors = {}
    for line in lines:
        found = re.match(r"(?:.*/)?untyped_use\.py:(\d+): error: .*\[([a-z-]+)\]$", line)
        if found:
            errors[int(found.group(1))] = found.group(2)
    assert errors == UNTYPED_ERRORS, done.stdout
    assert done.returncode == 1, done.stdout + done.stderr


#: The error rules pyright reports for the lines of UNTYPED_ERRORS.
PYRIGHT_ERRORS = {3: "reportAssignmentType", 4: "reportAttributeAccessIssue", 5: "reportAttributeAccessIssue"}


def test_the_flat_namespace_is_typed_for_pyright(tmp_path) -> None:
    """The same snippets through pyright's checker (basedpyright, the dev extra); it
    leaves out files in hidden directories such as ``.cache``."""
    import json

    typed, untyped = write_snippets(tmp_path)
    pyright = Path(sys.executable).parent / "basedpyright"
    assert pyright.exists(), "basedpyright comes with the dev extra: make venv"
    done = _run(str(pyright), "--pythonpath", sys.executable, "--outputjson", str(typed), str(untyped))
    diagnostics = json.loads(done.stdout)["generalDiagnostics"]
    errors = [
        (Path(d["file"]), d["range"]["start"]["line"] + 1, d.get("rule"))
        for d in diagnostics
        if d["severity"] == "error"
    ]
    assert [e for e in errors if e[0] == typed] == [], done.stdout
    assert {line: rule for file, line, rule in errors if file == untyped} == PYRIGHT_ERRORS, done.stdout
    revealed = [
        d["message"] for d in diagnostics if d["severity"] == "information" and Path(d["file"]) == typed
    ]
    assert revealed == [
        'Type of "ds.AbstractSpan" is "type[AbstractSpan]"',
        'Type of "ds.parse" is "(data: Any, *, definitions: Definitions | None = None) -> Node"',
    ], done.stdout


# --- a project's segment migration depends on 0001_btree_gist --------------------------------


def _testapp_from_scratch() -> dict[str, list]:
    """What ``makemigrations testapp`` would write if the test app had no migrations yet."""
    from django.apps import apps
    from django.core.management.commands import makemigrations
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.questioner import NonInteractiveMigrationQuestioner
    from django.db.migrations.state import ProjectState

    loader = MigrationLoader(None, ignore_no_migrations=True)
    before = loader.project_state()
    for app_label, model_name in [key for key in before.models if key[0] == "testapp"]:
        before.remove_model(app_label, model_name)
    autodetector = makemigrations.Command.autodetector(
        before, ProjectState.from_apps(apps), NonInteractiveMigrationQuestioner(specified_apps={"testapp"})
    )
    return autodetector.changes(graph=loader.graph, trim_to_apps={"testapp"})


def test_makemigrations_of_segment_models_depends_on_the_btree_gist_migration() -> None:
    from django_segments.autodetector import needs_btree_gist

    (migration,) = _testapp_from_scratch()["testapp"]
    assert any(needs_btree_gist(operation) for operation in migration.operations)
    assert ("django_segments", "0001_btree_gist") in migration.dependencies


def test_makemigrations_keeps_pgtriggers_detection() -> None:
    import pgtrigger.migrations

    (migration,) = _testapp_from_scratch()["testapp"]
    assert any(isinstance(operation, pgtrigger.migrations.AddTrigger) for operation in migration.operations)


def test_makemigrations_and_migrate_share_one_autodetector() -> None:
    """Django's own check: ``makemigrations`` refuses to run otherwise."""
    from django.core.management.commands import makemigrations, migrate

    from django_segments.autodetector import BtreeGistDependencyMixin

    assert makemigrations.Command.autodetector is migrate.Command.autodetector
    assert issubclass(migrate.Command.autodetector, BtreeGistDependencyMixin)
    assert [m.id for m in checks.run_checks(tags=[checks.Tags.commands])] == []


def test_the_autodetector_mixes_with_pgtriggers_in_either_order(monkeypatch) -> None:
    """``INSTALLED_APPS`` may list django_segments before pgtrigger: both mixins stay."""
    import pgtrigger.apps
    import pgtrigger.migrations
    from django.core.management.commands import makemigrations, migrate
    from django.db.migrations.autodetector import MigrationAutodetector

    from django_segments import autodetector

    for module in (makemigrations, migrate):
        monkeypatch.setattr(module, "MigrationAutodetector", MigrationAutodetector)
        monkeypatch.setattr(module.Command, "autodetector", MigrationAutodetector)
    autodetector.install()  # django_segments' ready() first,
    pgtrigger.apps.patch_migrations()  # then pgtrigger's
    mixed = makemigrations.Command.autodetector
    assert migrate.Command.autodetector is mixed  # Django's check commands.E001
    assert issubclass(mixed, autodetector.BtreeGistDependencyMixin)
    assert issubclass(mixed, pgtrigger.migrations.MigrationAutodetectorMixin)
    autodetector.install()  # again: nothing is mixed in twice
    assert makemigrations.Command.autodetector is mixed
