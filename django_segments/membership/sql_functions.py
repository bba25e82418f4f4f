"""Which functions user-written segment SQL may call: an allow-list read from the catalog.

A function is allowed when PostgreSQL itself says it only computes a value: it lives in
schema ``pg_catalog``, can be called from SQL, and no overload of its name is
``VOLATILE`` (a volatile function may change state: ``set_config``, advisory locks,
``pg_stat_reset_shared``, ``pg_log_backend_memory_contexts``, file and large-object
access, sequences). Three exceptions are decided by what a function does rather than
by its label: `RUNS_SQL_TEXT` (stable functions that execute a query given as text,
e.g. ``table_to_xml``; their volatile relatives such as ``ts_stat`` and
``query_to_xml`` are refused by the rule already), `ASSIGNS_XID` (stable, yet they
assign a transaction id) and `VOLATILE_READS` (volatile only because every call returns
a new value: clocks and random numbers).

The list is read from ``pg_proc`` by `CATALOG_QUERY` when ``make sql`` runs (on the
newest supported server) and checked in as ``builtin_functions.txt``, so validation
needs no database access. ``tests/test_segment_sql.py`` compares it with the catalog of
the server under test: on every supported version nothing listed may be unsafe there,
and on the version it was generated from it must match exactly. Functions of other
schemas (your own, an extension's) are refused unless named in
``SEGMENTS_SQL_EXTRA_FUNCTIONS``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from importlib import resources
from typing import Any

#: Name of the checked-in list, beside this module.
RESOURCE = "builtin_functions.txt"

#: Volatile only because each call may return a new value; they change nothing.
#: ``timezone`` (``AT TIME ZONE``): its ``timetz`` forms read today's date, volatile on
#: PostgreSQL 14.
VOLATILE_READS = (
    "clock_timestamp",
    "gen_random_uuid",
    "random",
    "random_normal",
    "timeofday",
    "timezone",
    "uuidv4",
    "uuidv7",
)

#: Not volatile, but each call assigns the transaction an id (a write to server state).
ASSIGNS_XID = ("pg_current_xact_id", "txid_current")

#: ``LIKE`` patterns of functions that execute SQL given to them as text (or a cursor).
RUNS_SQL_TEXT = (
    "cursor_to_xml%",
    "database_to_xml%",
    "query_to_xml%",
    "schema_to_xml%",
    "table_to_xml%",
    "ts_rewrite",
    "ts_stat",
)

#: One row per allowed name. Pseudo-typed functions (``internal`` arguments, trigger and
#: handler results) cannot be called from a query and are left out.
CATALOG_QUERY = """
SELECT p.proname
FROM pg_catalog.pg_proc AS p
WHERE p.pronamespace = 'pg_catalog'::regnamespace
GROUP BY p.proname
HAVING bool_and(p.provolatile <> 'v' OR p.proname = ANY(%(volatile_reads)s))
   AND bool_or(
       p.prokind <> 'p'
       AND NOT ('internal'::regtype::oid = ANY(p.proargtypes::oid[]))
       AND p.prorettype::regtype::text NOT IN (
           'internal', 'trigger', 'event_trigger', 'language_handler', 'fdw_handler',
           'index_am_handler', 'table_am_handler', 'tsm_handler'
       )
   )
   AND NOT p.proname = ANY(%(assigns_xid)s)
   AND NOT p.proname LIKE ANY(%(runs_sql_text)s)
ORDER BY p.proname COLLATE "C"
"""

CATALOG_PARAMS: dict[str, list[str]] = {
    "volatile_reads": list(VOLATILE_READS),
    "assigns_xid": list(ASSIGNS_XID),
    "runs_sql_text": list(RUNS_SQL_TEXT),
}


def catalog_functions(cursor: Any) -> list[str]:
    """The allowed names as the catalog of ``cursor``'s server gives them, sorted."""
    cursor.execute(CATALOG_QUERY, CATALOG_PARAMS)
    return [row[0] for row in cursor.fetchall()]


def render(names: Iterable[str], server_version: str) -> str:
    """The text of `RESOURCE` for ``names`` read from PostgreSQL ``server_version``."""
    header = (
        "# Functions of pg_catalog that segment SQL may call, one a line.\n"
        f"# Read from PostgreSQL {server_version} by `make sql` (tests/generate_functions.py);\n"
        "# do not edit: tests/test_segment_sql.py compares it with the catalog.\n"
    )
    return header + "".join(f"{name}\n" for name in names)


@functools.cache
def _resource_lines() -> tuple[str, ...]:
    text = resources.files(__package__).joinpath(RESOURCE).read_text(encoding="utf-8")
    return tuple(text.splitlines())


@functools.cache
def builtin_functions() -> frozenset[str]:
    """The checked-in allow-list of `RESOURCE` (read once; validation asks it per call)."""
    return frozenset(line for line in _resource_lines() if line and not line.startswith("#"))


def generated_from() -> int:
    """Major version of the PostgreSQL server `RESOURCE` was read from, e.g. 18."""
    for line in _resource_lines():
        if line.startswith("# Read from PostgreSQL "):
            return int(line.split()[4].split(".")[0])
    msg = f"{RESOURCE} names no server version"  # pragma: no cover - the file is generated
    raise ValueError(msg)


def is_allowed(name: tuple[str, ...], extra: frozenset[str]) -> bool:
    """Whether a call of function ``name`` (its parts as written: ``("pg_catalog", "now")``)
    may appear in segment SQL; ``extra`` holds further names, qualified or not."""
    if ".".join(name) in extra:
        return True
    unqualified = len(name) == 1 or (len(name) == 2 and name[0] == "pg_catalog")
    return unqualified and name[-1] in builtin_functions()
