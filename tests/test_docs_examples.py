"""The Python examples of the guide's pages run as written.

Every ```python block of each page in `PAGES` runs, in page order, in one namespace per
page, against the test database, in a subprocess of its own (a model class cannot be
defined twice in one process). A block is one of:

* ``# settings.py`` on its first line: settings. It is executed in a namespace holding
  ``os`` and copies of the test run's ``DATABASES`` and ``INSTALLED_APPS``; every
  ``SEGMENTS_*`` name it assigns must be a setting `django_segments.conf` reads, and its
  accessor must accept the value; ``SEGMENTS_EXEC_CONNECTION`` must name one of the
  block's ``DATABASES`` and each of ``DATABASE_ROUTERS`` must import. The settings are
  not applied to the rest of the page.
* ``# myproject/<name>.py`` on its first line: that module (``myproject.<name>``, with its
  parent packages, created empty), so later blocks and settings can name it.
* ``# not run: <reason>`` on its first line: not executed; the reason is shown on the page.
* anything else: a ``manage.py shell`` session in the page's namespace, a module of the
  test app ``tests.docsapp`` (so a model a block defines belongs to that app and a
  relative ``from .models import ...`` finds its models). Tables of the models a block
  defines are created right after it and dropped at the end.

A page sets the stage for its examples in hidden blocks, HTML comments that the docs site
does not show: ``<!-- docs-test set-up`` ... ``-->`` runs where it stands in the page's
namespace, ``<!-- docs-test tear-down`` ... ``-->`` runs at the end, even after a failure.

A failing block fails the test with its traceback, whose file is the page and whose line
numbers are the page's own.
"""

from __future__ import annotations

import ast
import copy
import os
import re
import subprocess
import sys
import traceback
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = (
    "conditions.md",
    "segmentation.md",
    "scaling.md",
    "security.md",
    "admin.md",
    "operations.md",
    "testing.md",
    "concepts.md",
    "settings.md",
)
APP = "tests.docsapp"
# The member model a page's examples use (default auth.User): `make test` runs the page in
# the run of that member model.
PAGE_MEMBER_MODEL = {"segmentation.md": "memberapp.IntMember"}

_PIECE = re.compile(
    r"^```python[^\n]*\n(?P<code>.*?)^```"
    r"|^<!-- docs-test (?P<hidden>set-up|tear-down)[ \t]*\n(?P<hidden_code>.*?)^-->",
    re.DOTALL | re.MULTILINE,
)
_NOT_RUN = re.compile(r"\A# not run:(?P<reason>.*)\n")
_MODULE = re.compile(r"\A# (?P<module>myproject(?:/\w+)+)\.py[ \t]*\n")
_SETTINGS = re.compile(r"\A# settings\.py[ \t]*\n")


@dataclass(frozen=True)
class Block:
    """One piece of Python on a page: ``kind`` is settings, module, not-run, shell,
    set-up or tear-down; ``line`` is the page's line of the block's first code line."""

    kind: str
    line: int
    code: str
    detail: str = ""


def blocks(text: str) -> list[Block]:
    """The page's python blocks and hidden set-up / tear-down blocks, in page order."""
    found = []
    for match in _PIECE.finditer(text):
        code = match["code"] if match["hidden"] is None else match["hidden_code"]
        start = "code" if match["hidden"] is None else "hidden_code"
        line = text.count("\n", 0, match.start(start)) + 1
        found.append(_classify(match["hidden"], code, line))
    return found


def _classify(hidden: str | None, code: str, line: int) -> Block:
    if hidden is not None:
        return Block(hidden, line, code)
    if not_run := _NOT_RUN.match(code):
        if not not_run["reason"].strip():
            msg = f"line {line}: '# not run:' without a reason"
            raise ValueError(msg)
        return Block("not-run", line, code, not_run["reason"].strip())
    if module := _MODULE.match(code):
        return Block("module", line, code, module["module"].replace("/", "."))
    if _SETTINGS.match(code):
        return Block("settings", line, code)
    return Block("shell", line, code)


# --- the tests ------------------------------------------------------------------------------


def test_blocks_are_classified_with_the_page_lines() -> None:
    text = (
        "# Page\n\n```python\n# settings.py\nSEGMENTS_CONDITIONS = None\n```\n\n"
        "<!-- docs-test set-up\nuser = None\n-->\n\n"
        "```python\n# not run: needs a running Celery broker\napp.start()\n```\n"
        "```python\n# myproject/queue.py\nX = 1\n```\n"
        "```python\nprint(user)\n```\n"
        "```bash\nmake bench\n```\n"
        "<!-- docs-test tear-down\nuser = None\n-->\n"
    )
    found = blocks(text)
    assert [(b.kind, b.line, b.detail) for b in found] == [
        ("settings", 4, ""),
        ("set-up", 9, ""),
        ("not-run", 13, "needs a running Celery broker"),
        ("module", 17, "myproject.queue"),
        ("shell", 21, ""),
        ("tear-down", 27, ""),
    ]


def test_a_block_not_run_must_give_its_reason() -> None:
    """A block may be left out only visibly: ``# not run: <reason>`` on its first line."""
    with pytest.raises(ValueError, match=r"line 4: '# not run:' without a reason"):
        blocks("# Page\n\n```python\n# not run:\napp.start()\n```\n")


def test_a_failing_block_names_the_page_and_its_line(tmp_path: Path) -> None:
    page = tmp_path / "broken.md"
    page.write_text("# Broken\n\n```python\nx = 1\n\nraise ValueError('the example is wrong')\n```\n")
    namespace: dict[str, Any] = {"__name__": f"{APP}.broken"}
    with pytest.raises(ValueError, match="the example is wrong") as info:
        _run_code(blocks(page.read_text())[0], str(page), namespace)
    last = traceback.extract_tb(info.value.__traceback__)[-1]
    assert (last.filename, last.lineno) == (str(page), 6)


def test_the_docs_app_has_the_quick_start_models() -> None:
    """The pages say "with the quick start's models": tests/docsapp/models.py is that block."""
    quickstart = (DOCS / "quickstart.md").read_text()
    block = next(b.code for b in blocks(quickstart) if b.kind == "shell" and "class PlanPeriod" in b.code)
    models = (ROOT / "tests" / "docsapp" / "models.py").read_text()
    assert block.removeprefix("# billing/models.py\n") in models


def test_a_settings_block_with_an_unknown_setting_fails() -> None:
    block = Block("settings", 1, "SEGMENTS_NO_SUCH_THING = 1\n")
    with pytest.raises(AssertionError, match="SEGMENTS_NO_SUCH_THING is not a setting"):
        _check_settings(block, "page.md", {"DATABASES": {}, "INSTALLED_APPS": []})
    block = Block("settings", 1, 'SEGMENTS_EXEC_CONNECTION = "elsewhere"\n')
    with pytest.raises(AssertionError, match="names no database of the block"):
        _check_settings(block, "page.md", {"DATABASES": {"default": {}}, "INSTALLED_APPS": []})
    block = Block("settings", 1, "SEGMENTS_REFRESH_RUNS_KEEP = 0\n")
    with pytest.raises(Exception, match="SEGMENTS_REFRESH_RUNS_KEEP must be None or a positive integer"):
        _check_settings(block, "page.md", {"DATABASES": {}, "INSTALLED_APPS": []})


def _member_model_of(page: str) -> pytest.MarkDecorator:
    return pytest.mark.member_model(PAGE_MEMBER_MODEL.get(page, "auth.User"))


@pytest.mark.django_db(transaction=True, databases=["default", "segments_exec"])
@pytest.mark.parametrize("page", [pytest.param(page, marks=_member_model_of(page)) for page in PAGES])
def test_every_python_block_of_the_page_runs(page: str, segments_reader: str) -> None:
    from django.db import connection

    found = blocks((DOCS / page).read_text())
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run(  # noqa: S603 - this very module, fixed arguments
        [sys.executable, "-m", __name__, page, connection.settings_dict["NAME"]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    counts = {kind: sum(1 for b in found if b.kind == kind) for kind in ("settings", "module", "shell")}
    skipped = sum(1 for b in found if b.kind == "not-run")
    expected = (
        f"docs/{page}: ran {counts['shell']} shell, {counts['module']} module and"
        f" {counts['settings']} settings block(s); {skipped} not run"
    )
    assert expected in result.stdout, result.stdout


# --- running a page (in the subprocess) -----------------------------------------------------


def _run_code(block: Block, filename: str, namespace: dict[str, Any]) -> None:
    """Execute ``block`` in ``namespace``; tracebacks name ``filename`` and the page's lines."""
    code = compile("\n" * (block.line - 1) + block.code, filename, "exec")
    exec(code, namespace)  # noqa: S102 - the page's own example


def _module(name: str) -> types.ModuleType:
    """``sys.modules[name]``, created empty (with its parent packages) if missing."""
    if name in sys.modules:
        return sys.modules[name]
    parent, _, leaf = name.rpartition(".")
    module = types.ModuleType(name)
    module.__file__ = f"<docs {name}>"
    module.__path__ = []  # a package too: a later block may be one of its modules
    sys.modules[name] = module
    if parent:
        setattr(_module(parent), leaf, module)
    return module


def _settings_names() -> set[str]:
    """The settings `django_segments.conf` reads (first arguments of ``getattr`` / ``_setting``)."""
    from django_segments import conf

    names = set()
    for node in ast.walk(ast.parse(Path(conf.__file__).read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            args = node.args[1:2] if node.func.id == "getattr" else node.args[:1]
            if node.func.id in {"getattr", "_setting"} and args and isinstance(args[0], ast.Constant):
                names.add(args[0].value)
    return names


def _accept(name: str, value: Any) -> None:
    """Call the accessor of setting ``name`` (the function of `django_segments.conf` whose
    docstring starts with it) with ``value`` set: an accessor raises for a value it refuses."""
    import inspect

    from django.test import override_settings

    from django_segments import conf

    accessors = [
        function
        for function in vars(conf).values()
        if inspect.isfunction(function)
        and function.__module__ == conf.__name__
        and (function.__doc__ or "").startswith(f"``{name}``")
    ]
    assert accessors, f"{name} has no accessor in django_segments.conf"
    with override_settings(**{name: value}):
        for accessor in accessors:
            accessor()


def _check_settings(block: Block, filename: str, base: dict[str, Any]) -> None:
    """Execute a settings block on copies of ``base``; check the names and values it sets."""
    from django.utils.module_loading import import_string

    namespace: dict[str, Any] = {"os": os, **copy.deepcopy(base)}
    _run_code(block, filename, namespace)
    where = f"{filename}, line {block.line}"
    known = _settings_names()
    for name, value in namespace.items():
        if not name.startswith("SEGMENTS_"):
            continue
        assert name in known, f"{where}: {name} is not a setting of django_segments.conf"
        _accept(name, value)
    alias = namespace.get("SEGMENTS_EXEC_CONNECTION")
    if alias is not None:
        assert alias in namespace["DATABASES"], (
            f"{where}: SEGMENTS_EXEC_CONNECTION names no database of the block"
        )
    for router in namespace.get("DATABASE_ROUTERS", []):
        import_string(router)


def _new_models(created: list[Any]) -> list[Any]:
    from django.apps import apps

    return [
        model
        for model in apps.get_app_config(APP.rpartition(".")[2]).get_models()
        if model not in created and model._meta.managed and not model._meta.proxy
    ]


def _schema(action: str, models_: list[Any]) -> None:
    """Create or drop tables (pgtrigger's schema editor installs and removes triggers).

    NOTE - a span's trigger functions name its segment table and the other way round;
    with ``check_function_bodies`` off, Postgres resolves those names when they first run.
    """
    from django.db import connection

    with connection.schema_editor() as editor:
        editor.execute("SET LOCAL check_function_bodies = off")
        for model in models_:
            getattr(editor, action)(model)


def run_page(page: str) -> dict[str, int]:
    """Run every block of ``docs/<page>`` in order; return how many of each kind ran."""
    from django.conf import settings

    filename = f"docs/{page}"
    found = blocks((DOCS / page).read_text())
    base = {"DATABASES": settings.DATABASES, "INSTALLED_APPS": list(settings.INSTALLED_APPS)}
    shell: dict[str, Any] = {"__name__": f"{APP}.{page.removesuffix('.md')}_page", "__package__": APP}
    counts = {"shell": 0, "module": 0, "settings": 0, "not-run": 0}
    created = _new_models([])  # the quick start's models
    _schema("create_model", created)
    try:
        for block in found:
            if block.kind in ("tear-down", "not-run"):
                counts["not-run"] += block.kind == "not-run"
                continue
            if block.kind == "settings":
                _check_settings(block, filename, base)
            elif block.kind == "module":
                _run_code(block, filename, _module(block.detail).__dict__)
            else:
                _run_code(block, filename, shell)
            new = _new_models(created)
            _schema("create_model", new)
            created += new
            counts[block.kind] = counts.get(block.kind, 0) + 1
    finally:
        for block in found:
            if block.kind == "tear-down":
                _run_code(block, filename, shell)
        _schema("delete_model", list(reversed(created)))
    return counts


def main(page: str, database: str) -> int:
    """Run ``docs/<page>`` against ``database`` with the test app ``tests.docsapp`` installed."""
    import django
    from django.conf import settings

    for alias in ("default", "segments_exec"):
        settings.DATABASES[alias]["NAME"] = database
    os.environ.setdefault("SEGMENTS_READER_PASSWORD", "docs-example-only")  # read by docs/security.md
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, APP]
    django.setup()
    counts = run_page(page)
    print(
        f"docs/{page}: ran {counts['shell']} shell, {counts['module']} module and"
        f" {counts['settings']} settings block(s); {counts['not-run']} not run"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
