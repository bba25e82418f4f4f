"""The "Coming from ..." pages: every code block on them runs, and each has its table of names.

The blocks run in a subprocess (their models cannot be defined twice in one process)
against the test database, in order:

* a ```python block headed ``# myapp/<name>.py`` is that module of an app ``myapp``
  (a package in a temporary directory, added to ``INSTALLED_APPS`` before Django starts);
  tables of the models it defines are created right after it and dropped at the end; a
  ``Migration`` class it defines has its ``RunSQL`` run backwards, then forwards;
* a block headed ``# settings.py`` is settings: its ``SEGMENTS_*`` names are set and its
  ``LOGGING`` configured, as Django does at start-up (the other names, such as
  ``INSTALLED_APPS``, are the page's advice and are only executed);
* any other block runs in one namespace, like a ``manage.py shell`` session;
* a ```json block is parsed as a condition tree with the conditions of
  ``myapp.condition_types``.

The working directory is the temporary directory, so files a page writes land there.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = {
    "django-conditions": ROOT / "docs" / "coming-from-django-conditions.md",
    "groveco": ROOT / "docs" / "coming-from-groveco-django-segments.md",
}
APP = "myapp"

_BLOCK = re.compile(r"^```(python|json)[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
_HEADING = re.compile(r"\A# (?:(?P<module>myapp/[\w/]+)\.py|(?P<settings>settings)\.py)\s*\n")
_TABLE_ROW = re.compile(r"^\| `([^`]+)`", re.MULTILINE)


def blocks(text: str) -> list[tuple[str, str]]:
    """``(language, body)`` of the page's python and json blocks, in order."""
    return _BLOCK.findall(text)


def table_names(text: str) -> set[str]:
    """The first code span of each row of the page's tables (an old name)."""
    return set(_TABLE_ROW.findall(text))


# --- the tests --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, databases=["default", "segments_exec"])
@pytest.mark.parametrize("page", list(PAGES), ids=list(PAGES))
def test_every_code_block_of_the_page_runs(page: str, segments_reader: str) -> None:
    from django.db import connection

    path = PAGES[page]
    python = [body for language, body in blocks(path.read_text()) if language == "python"]
    assert python, f"{path.name} has no python blocks"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run(  # noqa: S603 - this very module, fixed arguments
        [sys.executable, "-m", __name__, str(path), connection.settings_dict["NAME"]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    json_count = sum(1 for language, _ in blocks(path.read_text()) if language == "json")
    assert f"ran {len(python)} python block(s), parsed {json_count} json block(s)" in result.stdout


#: Public names of django-conditions 0.9.18 (its ``__all__`` and the members its docs use).
DJANGO_CONDITIONS_NAMES = {
    "Condition",
    "CompareCondition",
    "UndefinedConditionError",
    "InvalidConditionError",
    "ConditionsWidget(condition_definitions=...)",
    "ConditionsFormField(condition_definitions=...)",
    "ConditionsField(definitions=...)",
    "CondList",
    "conditions_from_module(module)",
    "eval_conditions(model, field_name, user, **kwargs)",
    "Condition.key_required()",
    "Condition.include_not",
    "CompareCondition.cast_operand",
    "CompareCondition.operators()",
    "conditions.conditions.logger",
}

#: Public names of groveco's django-segments, 1.x (membership table) and 3.x (Redis).
GROVECO_NAMES = {
    "Segment",
    "Segment(definition=...)",
    "Segment.has_member(user)",
    "Segment.has_member_live(user)",
    "Segment.members",
    "Segment.members_live",
    "Segment.refresh()",
    "Segment.add_member(user)",
    "SegmentMixin",
    "user.is_member(segment)",
    "user.is_member_live(segment)",
    "user.refresh_segments()",
    "user.refresh_segments_async()",
    "SegmentMembership",
    "segments.router.SegmentsRouter",
    "SEGMENTS_EXEC_CONNECTION",
    "SEGMENTS_REFRESH_ON_SAVE",
    "SEGMENTS_REFRESH_ASYNC",
    "SEGMENTS_REDIS_URI",
    "SegmentExecutionError",
    "live_sql",
}


@pytest.mark.parametrize(
    ("page", "names"),
    [("django-conditions", DJANGO_CONDITIONS_NAMES), ("groveco", GROVECO_NAMES)],
    ids=list(PAGES),
)
def test_the_table_lists_every_public_name(page: str, names: set[str]) -> None:
    text = PAGES[page].read_text()
    listed = table_names(text)
    missing = names - listed
    assert not missing, f"{PAGES[page].name} lacks rows for {sorted(missing)}"


# --- the subprocess ---------------------------------------------------------------------


def _module(name: str) -> types.ModuleType:
    """``sys.modules[name]``, created empty (with its parent packages) if missing."""
    if name in sys.modules:
        return sys.modules[name]
    parent, _, leaf = name.rpartition(".")
    module = types.ModuleType(name)
    module.__file__ = f"<docs {name}>"
    sys.modules[name] = module
    if parent:
        setattr(_module(parent), leaf, module)
    return module


def _new_models(created: list[Any]) -> list[Any]:
    from django.apps import apps

    return [
        model
        for model in apps.get_app_config(APP).get_models()
        if model not in created and model._meta.managed and not model._meta.proxy
    ]


def _schema(action: str, models_: list[Any]) -> None:
    from django.db import connection

    with connection.schema_editor() as editor:
        for model in models_:
            getattr(editor, action)(model)


def _run_migration_sql(module: types.ModuleType) -> None:
    from django.db import connection, migrations

    migration = getattr(module, "Migration", None)
    if migration is None:
        return
    with connection.cursor() as cursor:
        for operation in migration.operations:
            if isinstance(operation, migrations.RunSQL):
                cursor.execute(operation.reverse_sql)
                cursor.execute(operation.sql)


def _apply_settings(namespace: dict[str, Any]) -> None:
    from django.conf import settings
    from django.utils.log import configure_logging

    for name, value in namespace.items():
        if name.startswith("SEGMENTS_"):
            setattr(settings, name, value)
    if "LOGGING" in namespace:
        configure_logging(settings.LOGGING_CONFIG, namespace["LOGGING"])


def _run_python(body: str, number: int, shell: dict[str, Any], created: list[Any]) -> None:
    heading = _HEADING.match(body)
    code = compile(body, f"python block {number}", "exec")
    if heading is None:
        exec(code, shell)  # noqa: S102 - the page's own example
    elif heading["settings"]:
        namespace: dict[str, Any] = {}
        exec(code, namespace)  # noqa: S102
        _apply_settings(namespace)
    else:
        module = _module(heading["module"].replace("/", "."))
        exec(code, module.__dict__)  # noqa: S102
        _run_migration_sql(module)
        new = _new_models(created)
        _schema("create_model", new)
        created += new


def _parse_json(body: str) -> None:
    from django_segments.conditions import conditions_from_module, parse

    parse(json.loads(body), definitions=conditions_from_module(sys.modules[f"{APP}.condition_types"]))


@contextlib.contextmanager
def app_in_temporary_directory(database: str) -> Iterator[None]:
    """Start Django on ``database`` with an empty app ``myapp`` in a temporary working
    directory (removed afterwards); a page's module blocks fill the app."""
    import django
    from django.conf import settings

    with tempfile.TemporaryDirectory() as work:
        (Path(work) / APP).mkdir()
        (Path(work) / APP / "__init__.py").write_text("")
        sys.path.insert(0, work)
        os.chdir(work)
        for alias in ("default", "segments_exec"):
            settings.DATABASES[alias]["NAME"] = database
        settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, APP]
        django.setup()
        yield


def main(page: str, database: str) -> int:
    """Run the page's blocks against ``database`` in a temporary directory holding ``myapp``."""
    with app_in_temporary_directory(database):
        found = blocks(Path(page).read_text())
        shell: dict[str, Any] = {"__name__": "__shell__"}
        created: list[Any] = []
        try:
            for number, (language, body) in enumerate(found, start=1):
                if language == "python":
                    _run_python(body, number, shell, created)
                else:
                    _parse_json(body)
        finally:
            _schema("delete_model", list(reversed(created)))
    python = sum(1 for language, _ in found if language == "python")
    print(f"ran {python} python block(s), parsed {len(found) - python} json block(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
