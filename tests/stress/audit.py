"""An independent audit of span invariants, in plain SQL.

Written separately from the library on purpose: it does not import ``django_segments``
and does not rely on its constraints, triggers or range operators. Ranges are compared
through their bounds only, assuming the ``[lower, upper)`` form every range must have
(which is itself audited). Each check is one statement and all of them run in one
``REPEATABLE READ`` snapshot, so the audit can run while writers are busy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Tables:
    """What the audit needs to know about one span model and its segment model."""

    label: str
    span_table: str
    segment_table: str
    allow_span_gaps: bool
    allow_segment_gaps: bool

    @property
    def span(self) -> str:
        """Quoted span table."""
        return _quote(self.span_table)

    @property
    def seg(self) -> str:
        """Quoted segment table."""
        return _quote(self.segment_table)


@dataclass(frozen=True)
class Finding:
    """One violated invariant."""

    label: str
    check: str
    detail: str

    def __str__(self) -> str:
        return f"{self.label}: {self.check}: {self.detail}"


def _bad_range(column: str) -> str:
    return (
        f"isempty({column}) OR lower_inf({column}) OR upper_inf({column})"
        f" OR NOT lower_inc({column}) OR upper_inc({column})"
        f" OR NOT (lower({column}) < upper({column}))"
    )


def _queries(t: Tables) -> list[tuple[str, str]]:
    """``(check name, SQL returning one text column per violation)``."""
    active = "deleted_at IS NULL"
    queries = [
        (
            "invalid segment range",
            f"SELECT 'segment ' || id || ' ' || coalesce(segment_range::text, 'NULL')"
            f" FROM {t.seg} WHERE segment_range IS NULL OR {_bad_range('segment_range')}",
        ),
        (
            "invalid span range",
            f"SELECT 'span ' || id || ' ' || coalesce(current_range::text, 'NULL')"
            f" FROM {t.span} WHERE current_range IS NULL OR {_bad_range('current_range')}",
        ),
        (
            "overlap",
            f"SELECT 'span ' || a.span_id || ': segment ' || a.id || ' ' || a.segment_range::text"
            f" || ' overlaps segment ' || b.id || ' ' || b.segment_range::text"
            f" FROM {t.seg} a JOIN {t.seg} b ON a.span_id = b.span_id AND a.id < b.id"
            f" WHERE a.{active} AND b.{active}"
            f" AND lower(a.segment_range) < upper(b.segment_range)"
            f" AND lower(b.segment_range) < upper(a.segment_range)",
        ),
        (
            "outside span",
            f"SELECT 'segment ' || g.id || ' ' || g.segment_range::text || ' of span ' || g.span_id"
            f" || ' ' || coalesce(s.current_range::text, 'missing')"
            f" || CASE WHEN s.deleted_at IS NOT NULL THEN ' (span deleted)' ELSE '' END"
            f" FROM {t.seg} g LEFT JOIN {t.span} s ON s.id = g.span_id WHERE g.{active} AND ("
            f" s.id IS NULL OR s.deleted_at IS NOT NULL"
            f" OR lower(g.segment_range) < lower(s.current_range)"
            f" OR upper(g.segment_range) > upper(s.current_range))",
        ),
    ]
    if not t.allow_segment_gaps:
        queries.append(
            (
                "gap between segments",
                f"SELECT 'span ' || span_id || ': gap [' || prev_upper || ', ' || lo || ') before segment '"
                f" || id FROM (SELECT id, span_id, lower(segment_range) AS lo, lag(upper(segment_range))"
                f" OVER (PARTITION BY span_id ORDER BY lower(segment_range), id) AS prev_upper"
                f" FROM {t.seg} WHERE {active}) o WHERE prev_upper < lo",
            )
        )
    if not t.allow_span_gaps:
        queries.append(
            (
                "span not covered",
                f"SELECT 'span ' || s.id || ' ' || s.current_range::text || ' covered from '"
                f" || coalesce(c.lo::text, 'nothing') || ' to ' || coalesce(c.hi::text, 'nothing')"
                f" FROM {t.span} s LEFT JOIN (SELECT span_id, min(lower(segment_range)) AS lo,"
                f" max(upper(segment_range)) AS hi FROM {t.seg} WHERE {active} GROUP BY span_id) c"
                f" ON c.span_id = s.id WHERE s.deleted_at IS NULL AND (c.span_id IS NULL"
                f" OR c.lo <> lower(s.current_range) OR c.hi <> upper(s.current_range))",
            )
        )
    return queries


def audit(cursor: Any, tables: list[Tables], *, own_snapshot: bool = True) -> list[Finding]:
    """Run every check for every model; return what is wrong.

    With ``own_snapshot`` (the default) ``cursor`` must not be inside a transaction: the
    checks run in one read-only ``REPEATABLE READ`` transaction of their own. Without it
    they run in the caller's transaction (to audit uncommitted test data).
    """
    findings: list[Finding] = []
    if own_snapshot:
        cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        for t in tables:
            for check, sql in _queries(t):
                cursor.execute(sql)
                findings.extend(Finding(t.label, check, row[0]) for row in cursor.fetchall())
    finally:
        if own_snapshot:
            cursor.execute("COMMIT")
    return findings


def snapshot(cursor: Any, t: Tables) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every span and segment row of one model as plain tuples: a change detector."""
    cursor.execute(
        f"SELECT id, current_range::text, initial_range::text, deleted_at IS NOT NULL"
        f" FROM {t.span} ORDER BY id"
    )
    spans = [tuple(row) for row in cursor.fetchall()]
    cursor.execute(
        f"SELECT id, span_id, segment_range::text, deleted_at IS NOT NULL FROM {t.seg} ORDER BY id"
    )
    return spans, [tuple(row) for row in cursor.fetchall()]


def active_ranges(cursor: Any, t: Tables, span_id: Any) -> list[tuple[Any, Any]]:
    """``(lower, upper)`` of the active segments of one span, in range order."""
    cursor.execute(
        f"SELECT lower(segment_range), upper(segment_range) FROM {t.seg}"
        f" WHERE span_id = %s AND deleted_at IS NULL ORDER BY lower(segment_range)",
        [span_id],
    )
    return [tuple(row) for row in cursor.fetchall()]
