"""`make demo` end to end: ``example_project/run_demo.py --no-serve`` in a subprocess.

The demo runs on the test session's server (``DATABASE_URL``, exported by
`django_segments.testing.database_settings` when the server is embedded) in a database of
its own, created by the demo and dropped here afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "example_project" / "run_demo.py"


@pytest.fixture
def demo_database() -> Iterator[str]:
    """A fresh database name for the demo, with a read-only login of its own; both are
    dropped after the test (a login is server-wide and would outlive the database)."""
    name = f"segments_demo_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        # Its grants lived in the dropped database only, so nothing else depends on it.
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(reader_of(name))))


def reader_of(database: str) -> str:
    """The read-only login the demo creates for ``database``."""
    return f"{database}_reader"


def run_demo(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SEGMENTS_DEMO_DB": database,
        "SEGMENTS_DEMO_READER": reader_of(database),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, str(DEMO), "--no-serve", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )


@pytest.mark.django_db
def test_demo_runs_the_walk_through(demo_database: str) -> None:
    assert "DATABASE_URL" in os.environ, "the test settings export the server's URL"
    first = run_demo(demo_database, "--customers", "300")
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    assert "Admin login: admin / admin" in out
    assert "Loaded 300 customers" in out
    for section in range(1, 8):
        assert f"\n== {section}. " in out
    # The walk-through shows the library at work, not just prose.
    assert "premium  [" in out
    assert "overlapping insert  -> OverlapError (invariant 'overlap')" in out
    assert "deleting a period   -> GapError" in out
    assert "(soft-deleted)" in out
    assert "refresh loyal-premium  (sql       )" in out
    assert "after the refresh:                  is_member('premium-early') = True" in out
    assert "tree.evaluate(customer) = True" in out
    assert "Not serving (--no-serve)" in out
    assert "Traceback" not in first.stderr

    # A second run on the same database keeps the data and walks through again.
    second = run_demo(demo_database)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Demo data already loaded." in second.stdout
    assert "Walk-through finished" in second.stdout
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        roles = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [reader_of(demo_database)])
        assert roles.fetchone() is not None, "the demo ran with its own read-only login"
