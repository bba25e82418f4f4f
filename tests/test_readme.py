"""The README's promises: its Python code blocks run, and the ``make`` targets it names exist.

The quick start of the docs (``docs/quickstart.md``) is followed step by step in a new
project with the built wheel by ``tests/test_packaging.py``.

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
def test_python_blocks_run() -> None:
    blocks = python_blocks(README.read_text())
    result = run_blocks(README)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ran {len(blocks)} python block(s)" in result.stdout


def test_the_readme_says_how_to_install_and_which_database() -> None:
    """No release exists yet: the README must not send readers to PyPI alone."""
    text = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "pip install /path/to/django-segments" in text
    assert "python -m pip wheel --no-deps --wheel-dir dist ." in text
    assert '"ENGINE": "django.db.backends.postgresql"' in text
    assert "(docs/quickstart.md)" in text


# --- the docs site serves no external assets ----------------------------------------------


def test_the_docs_theme_loads_no_web_fonts() -> None:
    """mkdocs-material links Google Fonts unless ``font: false``."""
    theme = (ROOT / "mkdocs.yml").read_text().split("\ntheme:\n", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"^  font: false$", theme, re.MULTILINE), theme


def test_make_docs_checks_the_built_site_for_external_assets() -> None:
    recipe = MAKEFILE.read_text().split("\ndocs:", 1)[1].split("\n\n", 1)[0]
    assert "mkdocs build --strict" in recipe
    assert "-m tests.site_assets site" in recipe.split("mkdocs build --strict", 1)[1]


def test_the_site_check_finds_what_a_page_would_fetch_from_another_host() -> None:
    from tests.site_assets import css_externals, html_externals

    page = """<html><head>
    <link rel="preconnect" href="https://fonts.gstatic.com" crossorigin>
    <link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">
    <link rel="stylesheet" href="../assets/stylesheets/main.css">
    <script src="//cdn.example.org/lib.js"></script><script src="assets/app.js"></script>
    <style>body { background: url('https://img.example.org/bg.png') }</style>
    </head><body>
    <img srcset="a.png 1x, https://img.example.org/b.png 2x" src="a.png">
    <div style="background-image: url(http://img.example.org/c.png)"></div>
    <a href="https://example.org/a-link-is-not-an-asset">read more</a>
    </body></html>"""
    assert html_externals(page) == [
        "<link href=https://fonts.gstatic.com>",
        "<link href=https://fonts.googleapis.com/css?family=Roboto>",
        "<script src=//cdn.example.org/lib.js>",
        "<style> https://img.example.org/bg.png",
        "<img srcset=https://img.example.org/b.png>",
        "<div style> http://img.example.org/c.png",
    ]
    css = """@import "https://fonts.example.org/x.css"; @import 'local.css';
    .a { background: url("data:image/svg+xml;charset=utf-8,<svg xmlns='http://www.w3.org/2000/svg'/>") }
    .b { background: url(https://img.example.org/d.png) } .c { background: url(../img/e.png) }"""
    assert css_externals(css) == ["https://fonts.example.org/x.css", "https://img.example.org/d.png"]


def test_the_site_check_fails_on_a_site_with_an_external_asset(tmp_path, capsys) -> None:
    from tests.site_assets import main

    (tmp_path / "index.html").write_text('<link rel="stylesheet" href="https://fonts.googleapis.com/css">')
    assert main([str(tmp_path)]) == 1
    assert "index.html: <link href=https://fonts.googleapis.com/css>" in capsys.readouterr().err
    (tmp_path / "index.html").write_text('<link rel="stylesheet" href="assets/main.css">')
    assert main([str(tmp_path)]) == 0
    assert main([str(tmp_path / "missing")]) == 2


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
