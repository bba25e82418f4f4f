"""What a user installs and does first: the sdist and the wheel hatchling builds from this
checkout, and the quick start followed from a clean directory with that wheel."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.stress.conftest import FULL

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"sdist": path, "wheel": path}`` built by hatchling from this checkout (about 2 s)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(  # noqa: S603 - fixed interpreter and arguments
        [sys.executable, "-m", "hatchling", "build", "-d", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel}


def sdist_names(path: Path) -> list[str]:
    """Member names of an sdist without its top directory (``django_segments-0.1/...``)."""
    with tarfile.open(path) as archive:
        return [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]


def wheel_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def test_the_repository_has_the_declared_license() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert 'license = "BSD-3-Clause"' in (ROOT / "pyproject.toml").read_text()
    assert "Redistribution and use in source and binary forms" in text
    assert "Neither the name of the copyright holder" in text  # the third clause


def test_the_sdist_ships_the_license(built: dict[str, Path]) -> None:
    names = sdist_names(built["sdist"])
    assert "LICENSE" in names
    assert "django_segments/__init__.py" in names


def test_the_wheel_ships_the_license(built: dict[str, Path]) -> None:
    names = wheel_names(built["wheel"])
    licenses = [name for name in names if name.endswith(".dist-info/licenses/LICENSE")]
    assert licenses, names
    with zipfile.ZipFile(built["wheel"]) as archive:
        (metadata,) = (n for n in names if n.endswith(".dist-info/METADATA"))
        text = archive.read(metadata).decode()
    assert "License-Expression: BSD-3-Clause" in text
    assert "License-File: LICENSE" in text


# --- the quick start, from a clean directory ---------------------------------------------

QUICKSTART = ROOT / "docs" / "quickstart.md"
#: First lines of the quick start's python blocks, each naming where the block goes.
SETTINGS_BLOCK = "# mysite/settings.py: add at the end"
MODELS_BLOCK = "# billing/models.py"
SHELL_BLOCK = "# python manage.py shell"


def fenced(text: str, language: str) -> list[str]:
    """Bodies of the fenced blocks of ``language`` in ``text``, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.DOTALL | re.MULTILINE)


def quickstart_python() -> dict[str, str]:
    """The quick start's python blocks by first line; every block is one of the three."""
    blocks = {body.splitlines()[0]: body for body in fenced(QUICKSTART.read_text(), "python")}
    assert set(blocks) == {SETTINGS_BLOCK, MODELS_BLOCK, SHELL_BLOCK}, "a python block the test does not run"
    return blocks


def quickstart_commands() -> list[str]:
    """Every line of the quick start's sh blocks."""
    return [line for body in fenced(QUICKSTART.read_text(), "sh") for line in body.splitlines()]


def check_ids(output: str) -> list[str]:
    """Ids of the system check messages in a command's ``output``, in order."""
    return re.findall(r"^\?: \(([\w.]+)\)", output, re.MULTILINE)


def printed_lines(block: str) -> list[str]:
    """What a block says it prints: its comment lines that follow a ``print(...)`` line."""
    lines = block.splitlines()
    return [
        line[2:]
        for previous, line in itertools.pairwise(lines)
        if line.startswith("# ") and previous.lstrip().startswith("print(")
    ]


def environ_for(venv: Path) -> dict[str, str]:
    """A shell of ``venv`` activated, without this test run's Django settings."""
    skip = {"DJANGO_SETTINGS_MODULE", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    env = {k: v for k, v in os.environ.items() if k not in skip}
    return {**env, "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", "VIRTUAL_ENV": str(venv)}


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(  # noqa: S603 - the test's own commands
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture
def project_database() -> Iterator[dict[str, str]]:
    """A new empty database on the test server, as ``DATABASES["default"]`` keys."""
    params = conninfo_to_dict(os.environ["DATABASE_URL"])
    name = f"quickstart_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(make_conninfo(**params), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {
            "NAME": name,
            "USER": str(params.get("user", "")),
            "PASSWORD": str(params.get("password", "")),
            "HOST": str(params.get("host", "")),
            "PORT": str(params.get("port", "")),
        }
    finally:
        with psycopg.connect(make_conninfo(**params), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def venv_with_the_wheel(wheel: Path, where: Path) -> Path:
    """A new virtualenv with ``wheel`` installed by pip; its dependencies are this test
    run's (a ``.pth`` file names our site-packages), so nothing is downloaded.

    NOTE - a ``.pth`` line only adds a directory to ``sys.path``; the ``.pth`` files in that
    directory (our editable install of this checkout among them) are not read.
    """
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)  # noqa: S603
    python = venv / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(subprocess.check_output([str(python), "-c", purelib], text=True).strip())  # noqa: S603
    (site / "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "--quiet",
        "--no-deps",
        "--no-index",
    ]
    subprocess.run([*pip, str(wheel)], check=True, timeout=300, capture_output=True)  # noqa: S603
    return venv


def follow_the_quickstart(venv: Path, django_admin: list[str], database: dict[str, str], where: Path) -> None:
    """The quick start's steps, from ``startproject`` to the shell session, in ``where``."""
    env = environ_for(venv)
    python = str(venv / "bin" / "python")
    blocks = quickstart_python()
    located = run([python, "-c", "import django_segments as ds; print(ds.__file__)"], where, env)
    assert located.stdout.startswith(str(venv)), "django_segments was not imported from the wheel"
    run([*django_admin, "startproject", "mysite"], where, env)
    project = where / "mysite"
    run([python, "manage.py", "startapp", "billing"], project, env)
    settings = project / "mysite" / "settings.py"
    here = f"\n# the test server, not the example values\nDATABASES['default'].update({database!r})\n"
    settings.write_text(settings.read_text() + "\n" + blocks[SETTINGS_BLOCK] + here)
    (project / "billing" / "models.py").write_text(blocks[MODELS_BLOCK])

    run([python, "manage.py", "makemigrations", "billing"], project, env)
    migration = (project / "billing" / "migrations" / "0001_initial.py").read_text()
    assert "('django_segments', '0001_btree_gist')" in migration

    migrated = run([python, "manage.py", "migrate"], project, env)
    assert "Applying django_segments.0001_btree_gist... OK" in migrated.stdout
    assert "Applying billing.0001_initial... OK" in migrated.stdout
    # The one warning the quick start announces: user SQL would run as this login.
    assert check_ids(migrated.stdout + migrated.stderr) == ["django_segments.W020"], migrated.stderr
    checked = run([python, "manage.py", "check", "--database", "default"], project, env)
    assert check_ids(checked.stdout + checked.stderr) == ["django_segments.W020"], checked.stderr
    assert checked.stderr.endswith("System check identified 1 issue (0 silenced).\n"), checked.stderr

    # NOTE - -v0: Django 5.2+ would first say how many models the shell imported for us.
    shell = run([python, "manage.py", "shell", "-v0", "-c", blocks[SHELL_BLOCK]], project, env)
    assert shell.stdout.splitlines() == printed_lines(blocks[SHELL_BLOCK])


def test_the_quickstart_names_the_commands_the_test_runs(built: dict[str, Path]) -> None:
    commands = quickstart_commands()
    for command in [
        "python -m pip wheel --no-deps --wheel-dir dist .",
        f"pip install dist/{built['wheel'].name}",
        "django-admin startproject mysite",
        "python manage.py startapp billing",
        "python manage.py makemigrations billing",
        "python manage.py migrate",
    ]:
        assert command in commands, command
    assert printed_lines(quickstart_python()[SHELL_BLOCK]), "the shell block shows no output to compare"


def test_the_quickstart_from_a_clean_directory(built, project_database, tmp_path) -> None:
    """The built wheel in a new virtualenv, then every step of docs/quickstart.md."""
    venv = venv_with_the_wheel(built["wheel"], tmp_path)
    follow_the_quickstart(venv, [str(venv / "bin" / "python"), "-m", "django"], project_database, tmp_path)


@pytest.mark.stress
@pytest.mark.skipif(not FULL, reason="make stress runs it: a full install from the package registry")
def test_the_quickstart_as_written_with_pip_from_the_registry(project_database, tmp_path) -> None:
    """``pip wheel`` as documented, ``pip install`` of it with every dependency from the
    registry into a new virtualenv with pip, then ``django-admin`` of that virtualenv."""
    dist = tmp_path / "dist"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(dist), "."]
    subprocess.run(pip_wheel, cwd=ROOT, check=True, timeout=600, capture_output=True)  # noqa: S603
    (wheel,) = dist.glob("*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)  # noqa: S603
    install = [str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)]
    subprocess.run(install, check=True, timeout=600, capture_output=True)  # noqa: S603
    follow_the_quickstart(venv, [str(venv / "bin" / "django-admin")], project_database, tmp_path)
