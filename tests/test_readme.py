"""The README's promises: its Python code blocks run, and the ``make`` targets it names exist.

The quick start of the docs (``docs/quickstart.md``) is run the same way.

The code blocks run in a subprocess (a model class cannot be defined twice in one
process) against the test database: each block runs in turn in one namespace that is
a module of the test app; tables for the models a block defines are created right after
it (constraints and triggers included, as a migration would) and dropped at the end.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MAKEFILE = ROOT / "Makefile"
DOCS_QUICKSTART = ROOT / "docs" / "quickstart.md"
#: The module the README's models pretend to live in (so their app is the test app).
MODULE = "tests.testapp.readme_quickstart"

_BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(text: str) -> list[str]:
    """The bodies of the ```python fenced blocks of ``text``, in order."""
    return _BLOCK.findall(text)


def make_targets_named(text: str) -> set[str]:
    """Targets the README tells readers to run: ``make demo``, ``make test``, and the list
    in backticks after ``make help``."""
    named = set(re.findall(r"\bmake ([a-z][a-z-]*)", text))
    listed = re.search(r"`make help` lists the other targets \(([^)]*)\)", text)
    if listed:
        named |= set(re.findall(r"`([a-z][a-z-]*)`", listed.group(1)))
    return named


def makefile_targets(text: str) -> set[str]:
    """Targets defined in a Makefile."""
    return set(re.findall(r"^([a-z][a-z-]*):", text, re.MULTILINE))


def test_every_make_target_named_in_the_readme_exists() -> None:
    named = make_targets_named(README.read_text())
    assert {"demo", "test"} <= named
    missing = named - makefile_targets(MAKEFILE.read_text())
    assert not missing, f"README names make targets the Makefile lacks: {sorted(missing)}"


def test_readme_has_a_quick_start_in_python() -> None:
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 2, "the README's quick start should show models, then operations"


def run_blocks(path: Path) -> subprocess.CompletedProcess[str]:
    """Run the python blocks of ``path`` in a subprocess against the test database."""
    from django.db import connection

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    return subprocess.run(  # noqa: S603 - this very module, fixed arguments
        [sys.executable, "-m", "tests.test_readme", str(path), connection.settings_dict["NAME"]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("path", [README, DOCS_QUICKSTART], ids=["README.md", "docs/quickstart.md"])
def test_python_blocks_run(path: Path) -> None:
    blocks = python_blocks(path.read_text())
    assert blocks, f"{path.name} has no ```python blocks"
    result = run_blocks(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ran {len(blocks)} python block(s)" in result.stdout


# --- the subprocess ------------------------------------------------------------------------


def _new_models(namespace: dict[str, Any], done: list[Any]) -> list[Any]:
    from django.db import models

    return [
        value
        for value in namespace.values()
        if isinstance(value, type)
        and issubclass(value, models.Model)
        and value.__module__ == MODULE
        and not value._meta.abstract
        and value not in done
    ]


def _create(new: list[Any]) -> None:
    """Create tables, constraints and triggers (pgtrigger's schema editor installs them).

    NOTE - a span's trigger functions name its segment table and the other way round;
    with ``check_function_bodies`` off, Postgres resolves those names when they first run.
    """
    from django.db import connection

    with connection.schema_editor() as editor:
        editor.execute("SET LOCAL check_function_bodies = off")
        for model in new:
            editor.create_model(model)


def _drop(created: list[Any]) -> None:
    from django.db import connection

    with connection.schema_editor() as editor:
        for model in reversed(created):
            editor.delete_model(model)


def main(readme: str, database: str) -> int:
    """Run every ```python block of ``readme`` against ``database``; tables are dropped after."""
    import django
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = database
    django.setup()
    blocks = python_blocks(Path(readme).read_text())
    namespace: dict[str, Any] = {"__name__": MODULE}
    created: list[Any] = []
    try:
        for number, block in enumerate(blocks, start=1):
            exec(compile(block, f"README.md, python block {number}", "exec"), namespace)  # noqa: S102
            new = _new_models(namespace, created)
            _create(new)
            created += new
    finally:
        _drop(created)
    print(f"ran {len(blocks)} python block(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
