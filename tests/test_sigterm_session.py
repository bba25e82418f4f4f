"""A SIGTERM stops a whole pytest session, and the embedded server with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.test_foundation import assert_server_stopped, environ_without_database_url

ROOT = Path(__file__).resolve().parent.parent
TARGET = "SEGMENTS_SIGTERM_TARGET"


@pytest.mark.skipif(not os.environ.get(TARGET), reason="the target of the SIGTERM test, run by it")
@pytest.mark.django_db
def test_target_waits_in_a_test() -> None:
    """Report the server, then wait (inside a test) for the signal."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_postmaster_start_time() IS NOT NULL")
    from django_segments.testing import postgres

    server = postgres.embedded_server()
    print(f"\nREADY {server.get_pid()} {server.pgdata}", flush=True)
    time.sleep(60)


def test_sigterm_ends_the_session_and_stops_the_server() -> None:
    env = environ_without_database_url()
    env[TARGET] = "1"
    child = subprocess.Popen(  # noqa: S603 - fixed interpreter and arguments
        [
            sys.executable,
            "-m",
            "pytest",
            "-s",
            "-p",
            "no:randomly",
            "--no-cov",
            "-q",
            __file__ + "::test_target_waits_in_a_test",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 120
        line = ""
        while "READY " not in line and time.monotonic() < deadline:
            line = child.stdout.readline()
            assert line or child.poll() is None, "the target session ended before it was ready"
        _, pid, pgdata = line[line.index("READY ") :].split()
        child.send_signal(signal.SIGTERM)
        rest = child.communicate(timeout=60)[0]
        assert child.returncode == 128 + signal.SIGTERM, rest
        assert "terminated by signal" in rest
        assert_server_stopped(int(pid), pgdata, "the session")
    finally:
        if child.poll() is None:
            child.kill()
