"""``manage.py refresh_segments`` as a user runs it: its output at each verbosity.

The command runs in a child process, as from a shell: a project that has not configured
logging must not get the library's log records (with tracebacks) on its terminal.
"""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection

from tests.membership_helpers import make_segment, set_definition, transactional

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.usefixtures("segments_reader")


def call(*args: str, verbosity: int = 1) -> str:
    """What ``refresh_segments ARGS`` prints in this process (stdout and stderr)."""
    out = StringIO()
    call_command("refresh_segments", *args, verbosity=verbosity, stdout=out, stderr=out)
    return out.getvalue()


def run_command(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m django refresh_segments ARGS`` on the test database, in a child process."""
    (tmp_path / "command_settings.py").write_text(
        "from tests.settings import *  # noqa: F403\n"
        f"DATABASES['default']['NAME'] = {connection.settings_dict['NAME']!r}\n"
        f"DATABASES['segments_exec']['NAME'] = {connection.settings_dict['NAME']!r}\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "command_settings", "PYTHONPATH": f"{tmp_path}:{ROOT}"}
    return subprocess.run(  # noqa: S603 - fixed interpreter and arguments
        [sys.executable, "-m", "django", "refresh_segments", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def one_failing_segment() -> None:
    """``good`` (one static member) and ``bad`` (an unregistered method), committed."""
    user = get_user_model().objects.create(username="ada")
    make_segment("good", static_ids=str(user.pk))
    bad = make_segment("bad", method="high_level")
    set_definition(bad, method="create")


@transactional
@pytest.mark.usefixtures("one_failing_segment")
def test_v0_prints_nothing_but_the_failure(tmp_path) -> None:
    done = run_command(tmp_path, "--all", "-v0")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == "CommandError: 1 of 2 segment(s) failed: bad\n"


@transactional
@pytest.mark.usefixtures("one_failing_segment")
def test_v1_prints_progress_and_the_table_without_a_traceback(tmp_path) -> None:
    done = run_command(tmp_path, "--all")
    assert done.returncode == 1
    assert "[########################] 2/2 done" in done.stdout
    assert "bad      failed" in done.stdout
    assert "good     ok" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stderr == "CommandError: 1 of 2 segment(s) failed: bad; see the table above.\n"


@transactional
@pytest.mark.usefixtures("one_failing_segment")
def test_v2_adds_the_traceback_of_each_failure(tmp_path) -> None:
    done = run_command(tmp_path, "--all", "-v2")
    assert done.returncode == 1
    assert "bad      failed" in done.stdout
    before, traceback = done.stderr.split("Traceback (most recent call last):", 1)
    assert before == "Refresh of segment 'bad' failed:\n"
    assert "is not a registered" in traceback
    assert traceback.count("Traceback") == 0  # one per failing segment, and one failed
    assert done.stderr.endswith("CommandError: 1 of 2 segment(s) failed: bad; see the table above.\n")


@pytest.mark.django_db
def test_v0_with_nothing_to_refresh_prints_nothing() -> None:
    assert call("--stale", verbosity=0) == ""
    assert call("--stale") == "No segments to refresh.\n"


@transactional
@pytest.mark.usefixtures("one_failing_segment")
def test_the_log_has_the_traceback_at_every_verbosity(caplog) -> None:
    out = StringIO()
    with pytest.raises(CommandError, match="1 of 1 segment"):
        call_command("refresh_segments", "bad", verbosity=0, stdout=out, stderr=out)
    assert out.getvalue() == ""
    (record,) = [r for r in caplog.records if r.name == "django_segments.membership" and r.exc_info]
    assert "Refresh of segment 'bad' failed" in record.getMessage()
