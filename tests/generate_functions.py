"""Regenerate ``django_segments/membership/builtin_functions.txt`` (``make sql``).

The allow-list of functions segment SQL may call, read from ``pg_proc`` of the newest
supported PostgreSQL (see `django_segments.membership.sql_functions`). Reviewers read
its diff: a new server version adds the functions it brings, and a function that
appears here should only compute a value.

Run: ``.venv/bin/python -m tests.generate_functions`` (starts an embedded PostgreSQL 18
unless ``DATABASE_URL`` is set, which must then point at a server of that version).
"""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg

from django_segments.membership import sql_functions
from django_segments.testing import database_url

#: The list is read from this major version, the newest supported.
NEWEST_SUPPORTED = 18
TARGET = Path(sql_functions.__file__).with_name(sql_functions.RESOURCE)


def main() -> int:
    """Write the list; refuse a server older than `NEWEST_SUPPORTED`."""
    with psycopg.connect(database_url()) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version_num')::int, current_setting('server_version')")
        number, version = cursor.fetchone()
        if number // 10000 < NEWEST_SUPPORTED:
            print(
                f"PostgreSQL {version} is older than {NEWEST_SUPPORTED}; unset DATABASE_URL", file=sys.stderr
            )
            return 1
        names = sql_functions.catalog_functions(cursor)
    TARGET.write_text(sql_functions.render(names, version.split()[0]), encoding="utf-8")
    print(f"{TARGET}: {len(names)} functions from PostgreSQL {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
