"""The printed table and the PASS/MISS verdicts of the targets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: A range operation's SQL, sent on its own, next to the hand-written SQL's.
RANGE_SQL_TARGET = 1.3
#: Milliseconds of the library's own time (Python) beyond its SQL, receivers connected or not.
RANGE_BEYOND_SQL_MS = 0.3
#: An operation on the largest span next to the same operation on a span of 10 segments.
RANGE_SIZE_TARGET = 1.5
#: Round trips of an operation; segment shifts read the neighbours first.
RANGE_ROUND_TRIPS = {"shift_segment": 2}
BULK_RATIO_TARGET = 1.3
CONDITIONS_RATIO_TARGET = 100
CONDITIONS_INDEX_TARGET = 1.2
MEMORY_FLAT_LIMIT = 1.5
#: The library's refresh next to (a) the hand-written diff and (b) the naive Python diff.
REFRESH_CTE_TARGET = 1.25
REFRESH_PYTHON_TARGET = 1.0
FIRST_REFRESH_TARGET = 2.0
#: The SQL definition on the exec login next to the same query inlined on the writer.
EXEC_LOGIN_TARGET = 1.3
READ_TARGET = 1.3
#: The machine counts as steady through a run while its slowest Python loop took at most
#: this many times its fastest.
STEADY_LIMIT = 1.25


def verdict(ok: bool | None) -> str:
    """``PASS``, ``MISS`` or ``n/a`` (not measured)."""
    if ok is None:
        return "n/a"
    return "PASS" if ok else "MISS"


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target with its measured value and verdict."""
    found: list[dict[str, Any]] = []
    if "ranges" in results:
        found += _range_targets(results["ranges"])
    if "bulk" in results:
        found += _bulk_targets(results["bulk"])
    if "membership" in results:
        found += membership_targets(results["membership"])
    if "conditions" in results:
        cond = results["conditions"]
        value = cond["ratio_python_compiled"]
        shown = f"x{value} at {cond['users']} users"
        found.append(_target("conditions: compiled >= 100x faster than Python loop", shown, value >= 100))
        if "index" in cond:
            found.append(_conditions_index_target(cond["index"]))
    if "memory" in results:
        mem = results["memory"]
        value = mem["ratio_peak_large_small"]
        shown = f"peak x{value} for x{mem['ratio_members']} members"
        found.append(_target("memory: refresh peak stays flat (<= 1.5x)", shown, value <= MEMORY_FLAT_LIMIT))
    return found


def _conditions_index_target(index: dict[str, Any]) -> dict[str, Any]:
    worst = index["worst_ratio"]
    shown = f"worst x{worst} of {len(index['trees'])} trees at {index['rows']} rows"
    ok = None if worst is None else worst <= CONDITIONS_INDEX_TARGET
    return _target("conditions: compiled SQL within 1.2x of the hand-written WHERE", shown, ok)


def _target(name: str, shown: str, ok: bool | None) -> dict[str, Any]:
    return {"target": name, "measured": shown, "verdict": verdict(ok)}


def _range_targets(ranges: dict[str, Any]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in ranges["rows"]:
        groups.setdefault(f"{row['model']}.{row['op']}", []).append(row)
    found = []
    for key, rows in groups.items():
        ok_rows = [row for row in rows if "error" not in row]
        errors = len(ok_rows) < len(rows)
        op = key.split(".", 1)[1]
        constant = ranges["constant"][key] and not errors
        counts = "/".join(str(row.get("library_statements")) for row in ok_rows)
        found.append(_target(f"ranges {key}: same statement count at every size", counts, constant))
        most = RANGE_ROUND_TRIPS.get(op, 1)
        trips = [row["library_round_trips"] for row in ok_rows]
        shown = "/".join(map(str, trips)) + (" (errors)" if errors else "")
        name = f"ranges {key}: {most} round trip{'s' if most > 1 else ''}"
        found.append(_target(name, shown, bool(trips) and not errors and max(trips) <= most))
        sql = [row["sql_ratio"] for row in ok_rows if row.get("sql_ratio") is not None]
        shown = " / ".join(f"x{value:.2f}" for value in sql)
        ok = None if not sql else max(sql) <= RANGE_SQL_TARGET
        found.append(_target(f"ranges {key}: its SQL within 1.3x of the hand-written SQL", shown, ok))
        beyond = [(row["beyond_sql_ms"], row["beyond_sql_receivers_ms"]) for row in ok_rows]
        shown = " / ".join(f"{one:+.2f}|{two:+.2f}" for one, two in beyond)
        ok = None if not beyond else max(max(pair) for pair in beyond) <= RANGE_BEYOND_SQL_MS
        found.append(
            _target(f"ranges {key}: own time beyond its SQL <= 0.3 ms (no|all receivers)", shown, ok)
        )
        found += _size_target(key, ok_rows, ranges["sizes"])
    return found


def _size_target(key: str, rows: list[dict[str, Any]], sizes: list[int]) -> list[dict[str, Any]]:
    """Tiling operations that change a part of the span: the largest size within 1.5x of 10."""
    by_size = {row["segments"]: row for row in rows}
    if not key.startswith("tiling.") or sizes[0] not in by_size or sizes[-1] not in by_size:
        return []
    small, large = by_size[sizes[0]], by_size[sizes[-1]]
    if large.get("whole_span"):
        return []
    value = large["library_ms"] / small["library_ms"] if small["library_ms"] else None
    shown = f"{large['library_ms']:.2f} / {small['library_ms']:.2f} ms" + (f" x{value:.2f}" if value else "")
    name = f"ranges {key}: at n={sizes[-1]} within 1.5x of n={sizes[0]}"
    return [_target(name, shown, None if value is None else value <= RANGE_SIZE_TARGET)]


def _bulk_targets(bulk: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for model, value in bulk.get("ratio_load_keyed_copy", {}).items():
        shown = f"load / COPY into (b1) = x{value}"
        found.append(
            _target(
                f"bulk: {model} Segment.objects.load within 1.3x of COPY into (b1)",
                shown,
                value <= BULK_RATIO_TARGET,
            )
        )
    return found


def render(results: dict[str, Any]) -> str:
    """The whole report as text."""
    steadiness = _steadiness(results)
    parts = [_meta(results["meta"]) + (f"\n{steadiness}" if steadiness else "")]
    for area, renderer in (
        ("ranges", _ranges),
        ("bulk", _bulk),
        ("membership", _membership),
        ("conditions", _conditions),
        ("memory", _memory),
        ("scaling", _scaling),
        ("partitioning", _partitioning),
    ):
        if area in results:
            parts.append(renderer(results[area]))
    parts.append(_targets(targets(results)) + (f"\n  {steadiness}" if steadiness else ""))
    return "\n\n".join(parts)


def machine_speeds(results: dict[str, Any]) -> list[tuple[str, float]]:
    """The Python loop's time (ms) at the start of the run and after each area."""
    speeds = []
    start = results["meta"].get("machine")
    if start:
        speeds.append(("start", start["python_loop_ms"]))
    for area, part in results.items():  # in the order the areas ran
        after = part.get("machine_after") if area != "meta" else None
        if after:
            speeds.append((area, after["python_loop_ms"]))
    return speeds


def _steadiness(results: dict[str, Any]) -> str | None:
    """One line on how the machine's speed moved during the run (None when measured once
    or not at all): steady, or a warning that the ratios are not comparable."""
    speeds = machine_speeds(results)
    if len(speeds) < 2:  # a start and at least one area
        return None
    values = [ms for _, ms in speeds]
    spread = max(values) / min(values)
    listed = ", ".join(f"{label} {ms:.1f}" for label, ms in speeds)
    if spread <= STEADY_LIMIT:
        return f"machine steady through the run: 10**6 Python additions {listed} ms"
    return (
        f"WARNING machine not steady: 10**6 Python additions {listed} ms (x{spread:.2f});"
        " compare this run's ratios only with runs on a steady machine"
    )


def _meta(meta: dict[str, Any]) -> str:
    mode = "quick" if meta["quick"] else "full"
    head = (
        f"django-segments benchmarks ({mode}), PostgreSQL {meta['server_version']}, "
        f"Python {meta['python']}, {meta['started_at']}"
    )
    machine = meta.get("machine")
    if not machine:
        return head
    return (
        f"{head}\nmachine: 10**6 Python additions {machine['python_loop_ms']:.1f} ms,"
        f" SELECT 1 round trip {machine['select_1_ms']:.3f} ms"
    )


def _reps(ranges: dict[str, Any]) -> str:
    least, most = ranges["repetitions"], ranges.get("max_repetitions", ranges["repetitions"])
    return str(least) if most == least else f"{least}-{most} (more for faster operations)"


def _ranges(ranges: dict[str, Any]) -> str:
    whole = _by_size(
        ranges,
        f"Range operations as users call them (autocommit, an instance fetched with the ORM, commit"
        f" included): median of {_reps(ranges)}; per span size: round trips library/baseline, time"
        " library/baseline in ms, ratio",
        30,
        _whole_cell,
    )
    sql_alone = _by_size(
        ranges,
        "SQL alone: the strings each side sent, sent again from a bare psycopg cursor; per span"
        " size: time library/baseline in ms, ratio, and the library's own time beyond its SQL in ms"
        " without | with receivers on every signal",
        34,
        _sql_alone_cell,
    )
    return "\n".join([*whole, "", *sql_alone])


def _by_size(
    ranges: dict[str, Any], title: str, width: int, cell: Callable[[dict[str, Any]], str]
) -> list[str]:
    """A table of the range rows: one line per (model, operation), one ``cell`` per size."""
    sizes = ranges["sizes"]
    lines = [title, f"{'model':7}{'operation':22}" + "".join(f"{'n=' + str(n):>{width}}" for n in sizes)]
    cells: dict[tuple[str, str], dict[int, str]] = {}
    for row in ranges["rows"]:
        cells.setdefault((row["model"], row["op"]), {})[row["segments"]] = cell(row)
    for (model, op), by_size in cells.items():
        lines.append(f"{model:7}{op:22}" + "".join(f"{by_size.get(n, '-'):>{width}}" for n in sizes))
    return lines


def _whole_cell(row: dict[str, Any]) -> str:
    if "error" in row:
        return "ERROR"
    return (
        f"{row['library_round_trips']}/{row['baseline_round_trips']}"
        f" {row['library_ms']:.2f}/{row['baseline_ms']:.2f} x{row['ratio']:.2f}"
    )


def _sql_alone_cell(row: dict[str, Any]) -> str:
    """SQL alone library/baseline, their ratio, and the library's time beyond its SQL."""
    if "error" in row or row.get("sql_ratio") is None:
        return "-"
    return (
        f"{row['library_sql_ms']:.2f}/{row['baseline_sql_ms']:.2f} x{row['sql_ratio']:.2f}"
        f" {row['beyond_sql_ms']:+.2f}|{row['beyond_sql_receivers_ms']:+.2f}"
    )


def _bulk(bulk: dict[str, Any]) -> str:
    plain = bulk["ms"]["plain"]
    rows = [
        ("(a) plain table, no constraints", plain),
        ("(b) exclusion constraint only", bulk["ms"]["exclusion"]),
        ("(b1) (b) plus primary and foreign key", bulk["ms"]["keyed_exclusion"]),
        ("(b2) library table without triggers", bulk["ms"]["no_triggers"]),
        ("(c) library table as installed", bulk["library_ms"]),
        ("(c*) (c) with pgtrigger.ignore preset", bulk["ms"]["library_ignore_preset"]),
    ]
    lines = [
        f"Bulk insert of {bulk['rows']} segments ({bulk['spans']} spans x {bulk['segments_per_span']}),"
        f" INSERT + COMMIT, median of {bulk['repetitions']}"
    ]
    for name, value in rows:
        if value is None:
            lines.append(f"  {name:40} > {bulk['library_timeout_s'] * 1000:>9} ms  (statement_timeout)")
        else:
            lines.append(f"  {name:40} {value:>11.1f} ms  x{value / plain:.1f} of (a)")
    growth = ", ".join(
        f"{run['rows']} rows {run['ms']:.0f} ms" if run["ms"] is not None else f"{run['rows']} rows timeout"
        for run in bulk["library_growth"]
    )
    lines.append(f"  (c) growth with rows per transaction: {growth}")
    lines.append(
        f"  (c)/(a) = x{bulk['ratio_library_plain']}   (c)/(b) = x{bulk['ratio_library_exclusion']}"
        f"   (c*)/(b) = x{bulk['ratio_ignore_preset_exclusion']}   (b)/(a) = x{bulk['ratio_exclusion_plain']}"
    )
    lines.append(
        f"  (c)/(b1) = x{bulk['ratio_library_keyed_exclusion']}"
        f"   (c)/(b2) = x{bulk['ratio_library_no_triggers']}"
    )
    copies = bulk.get("copy_ms")
    if copies:
        lines.append("  The bulk path from Python, COPY + COMMIT: Segment.objects.load vs COPY into (b1)")
        for model, value in bulk["ratio_load_keyed_copy"].items():
            lines.append(
                f"    {model:7} load {copies[f'{model}.load']:10.1f} ms   COPY into (b1)"
                f" {copies[f'{model}.copy']:10.1f} ms   x{value}"
            )
    return "\n".join(lines)


def membership_targets(mem: dict[str, Any]) -> list[dict[str, Any]]:
    """The refresh against each peer per size and change; first refresh, memory, the exec
    login and the reads."""
    found = []
    peers = (
        ("cte", "(a) the hand-written CTE diff", REFRESH_CTE_TARGET),
        ("merge", "(a) the hand-written MERGE", REFRESH_CTE_TARGET),
        ("python", "(b) the naive Python diff", REFRESH_PYTHON_TARGET),
    )
    for row in mem["refresh"]:
        for side, name, limit in peers:
            value = row[f"ratio_library_{side}"]
            shown = "n/a (PostgreSQL 17+)" if value is None else f"x{value}"
            ok = None if value is None else value <= limit
            where = f"{row['members']} members {row['change_percent']}%"
            found.append(_target(f"membership: refresh <= {limit}x {name}, {where}", shown, ok))
    one = next(r for r in mem["refresh"] if r["change_percent"] == 1 and r["members"] == mem["sizes"][-1])
    value = one["ratio_library_concurrently"]
    found.append(
        _target("membership: refresh at 1% faster than REFRESH ... CONCURRENTLY", f"x{value}", value < 1)
    )
    first = mem["first_refresh"]
    shown = f"{first['library_ms']:.0f} vs {first['insert_select_ms']:.0f} ms (x{first['ratio']})"
    name = f"membership: first refresh of {first['members']} <= 2x INSERT ... SELECT"
    found.append(_target(name, shown, first["ratio"] <= FIRST_REFRESH_TARGET))
    value = mem["ratio_peak_large_small"]
    shown = " / ".join(f"{run['peak_mib']} MiB" for run in mem["memory"]) + f" (x{value})"
    found.append(_target("membership: refresh peak memory flat across sizes (<= 1.5x)", shown, value <= 1.5))
    for run in mem["exec_vs_writer"]:
        name = f"membership: SQL on the exec login <= 1.3x on the writer, {run['members']} members"
        found.append(_target(name, f"x{run['ratio']}", run["ratio"] <= EXEC_LOGIN_TARGET))
    for read in READS:
        value = mem["reads"][read]["ratio"]
        found.append(
            _target(f"membership: {read} <= 1.3x hand-written SQL", f"x{value}", value <= READ_TARGET)
        )
    return found


READS = ("has_member", "is_member", "member_segments", "segment_members")
#: Columns of the refresh table: heading, key of the row.
_REFRESH_COLUMNS = (
    ("library", "library_ms"),
    ("(a) CTE", "cte_ms"),
    ("(a) MERGE", "merge_ms"),
    ("(b) Python", "python_ms"),
    ("MATVIEW", "matview_ms"),
    ("CONC.", "matview_concurrently_ms"),
)
_RATIO_COLUMNS = (
    ("/(a)", "ratio_library_cte"),
    ("/MERGE", "ratio_library_merge"),
    ("/(b)", "ratio_library_python"),
    ("/CONC.", "ratio_library_concurrently"),
)


def _cell(value: float | None, width: int, *, ratio: bool = False) -> str:
    """Milliseconds without decimals, a ratio as ``x1.234``, ``n/a`` when not measured."""
    if value is None:
        return f"{'n/a':>{width}}"
    text = f"x{value}" if ratio else f"{value:.0f}"
    return f"{text:>{width}}"


def _membership(mem: dict[str, Any]) -> str:
    lines = [
        f"Membership refresh next to its peers ({mem['definition']}), ms, medians, sides in rotating order",
        f"  {'members':>8} {'change':>6} {'changed':>8}"
        + "".join(f" {head:>10}" for head, _ in _REFRESH_COLUMNS)
        + "".join(f" {head:>7}" for head, _ in _RATIO_COLUMNS)
        + "  reps",
    ]
    for row in mem["refresh"]:
        lines.append(
            f"  {row['members']:>8} {str(row['change_percent']) + '%':>6} {row['changed_members']:>8}"
            + "".join(f" {_cell(row[key], 10)}" for _, key in _REFRESH_COLUMNS)
            + "".join(f" {_cell(row[key], 7, ratio=True)}" for _, key in _RATIO_COLUMNS)
            + f"  {row['repetitions']:>4}"
        )
    first = mem["first_refresh"]
    lines.append(
        f"  first refresh of {first['members']}: {first['library_ms']:.0f} ms, INSERT ... SELECT"
        f" {first['insert_select_ms']:.0f} ms (x{first['ratio']}, median of {first['repetitions']})"
    )
    peaks = ", ".join(f"{run['members']} members {run['peak_mib']} MiB" for run in mem["memory"])
    lines.append(f"  peak Python memory of a first refresh: {peaks} (x{mem['ratio_peak_large_small']})")
    for run in mem["exec_vs_writer"]:
        lines.append(
            f"  unchanged refresh of {run['members']}: SQL on the exec login {run['sql_ms']:.0f} ms,"
            f" the same as a method on the writer {run['method_ms']:.0f} ms (x{run['ratio']})"
        )
    for split in mem["breakdown"]:
        parts = ", ".join(
            f"{name} {split[name + '_ms']:.0f}"
            for name in ("diff", "stream_copy", "analyze", "temp_tables", "other_statements", "rest")
        )
        lines.append(
            f"  one refresh of {split['members']} at 1% ({split['changed_members']} changed)"
            f" {split['total_ms']:.0f} ms: {parts} ms"
        )
    reads = mem["reads"]
    shown = "; ".join(
        f"{name} {reads[name]['library_ms']:.3f}/{reads[name]['hand_ms']:.3f} ms (x{reads[name]['ratio']})"
        for name in READS
    )
    lines.append(f"  reads, library/by hand, {reads['segments']} segments: {shown}")
    return "\n".join(lines)


def _conditions(cond: dict[str, Any]) -> str:
    text = (
        f"Conditions over {cond['users']} users ({cond['matching']} match):"
        f" compiled COUNT {cond['compiled_ms']:.2f} ms; Python loop {cond['python_loop_ms']:.0f} ms"
        f" (x{cond['ratio_python_compiled']}); evaluation only {cond['python_evaluate_only_ms']:.0f} ms"
        f" (x{cond['ratio_evaluate_only_compiled']})"
    )
    if "index" not in cond:
        return text
    index = cond["index"]
    lines = [
        text,
        f"Compiled trees against the hand-written WHERE, {index['rows']} users"
        f" (median of {index['repetitions']}):",
    ]
    for row in index["trees"]:
        lines.append(
            f"  {row['name']:15} {row['matching']:>8} match: compiled {row['compiled_ms']:8.2f} ms,"
            f" by hand {row['hand_ms']:8.2f} ms (x{row['ratio']});"
            f" plans: {row['compiled_plan']} | {row['hand_plan']}"
        )
    two = index.get("two_valued_not")
    if two:
        lines.append(
            f"  for reference, Django's ~Q of PSCORE < 990 ({two['matching']} rows, NULLs counted as false):"
            f" {two['compiled_ms']:.2f} ms (x{two['ratio']} the hand-written WHERE);"
            f" plan: {two['compiled_plan']}"
        )
    return "\n".join(lines)


def _memory(mem: dict[str, Any]) -> str:
    runs = "; ".join(f"{run['members']} members: peak {run['peak_mib']} MiB" for run in mem["runs"])
    return f"Peak Python memory of a refresh (tracemalloc, batch {mem['batch_size']}): {runs}"


def _targets(found: list[dict[str, Any]]) -> str:
    lines = ["Targets"]
    for item in found:
        lines.append(f"  {item['verdict']:5} {item['target']:78} {item['measured']}")
    kinds: dict[str, list[str]] = {}
    for item in found:
        if item["target"].startswith("ranges "):
            kind = item["target"].split(": ", 1)[1]
            kinds.setdefault(kind, []).append(item["verdict"])
    for kind, verdicts in kinds.items():
        lines.append(f"  ranges, {kind}: {verdicts.count('PASS')} of {len(verdicts)} PASS")
    return "\n".join(lines)


def _scaling(scaling: dict[str, Any]) -> str:
    workers, standby = scaling["workers"], scaling["standby"]
    return "\n".join(
        [
            f"Scaling: a due round of {workers['segments']} segments over {workers['members']} members"
            f" (unchanged refreshes, median of {workers['rounds']}):"
            f" 1 worker {workers['one_worker_s']:.2f} s, 2 workers {workers['two_workers_s']:.2f} s"
            f" (x{workers['speedup']}; each round {workers['one_worker_rounds_s']}"
            f" / {workers['two_workers_rounds_s']});"
            f" refresh runs {workers['runs']} of {workers['runs_expected']} expected",
            f"  user SQL on a standby, {standby['members']} members (median of {standby['repeat']}):"
            f" first refresh {standby['standby_first']:.3f} s vs {standby['primary_reader_first']:.3f} s"
            f" on the primary (x{standby['ratio_first']}); unchanged {standby['standby_unchanged']:.3f} s"
            f" vs {standby['primary_reader_unchanged']:.3f} s (x{standby['ratio_unchanged']})",
        ]
    )


def _partitioning(part: dict[str, Any]) -> str:
    """One table against one partitioned by segment: refreshes, reads, a segment's life."""
    lines = [
        f"Partitioning: {part['segments']} segments x {part['members_per_segment']} members"
        f" ({part['rows']} rows, {part['member_key']} member key), one table / partitioned by segment"
    ]
    for row in part["one_segment"]:
        lines.append(
            f"  refresh of one segment, {row['change_percent']}% ({row['changed']} changed):"
            f" {row['single_ms']:.0f} / {row['parted_ms']:.0f} ms (x{row['ratio']});"
            f" diff statement {row['single_diff_ms']:.0f} / {row['parted_diff_ms']:.0f} ms"
            f" (x{row['diff_ratio']}), median of {row['repetitions']}"
        )
    for row in part["all_segments"]:
        lines.append(
            f"  refresh of all {part['segments']}, {row['change_percent']}%:"
            f" {row['single_s']:.1f} / {row['parted_s']:.1f} s (x{row['ratio']})"
        )
    reads = part["reads"]
    lines.append(
        f"  has_member {reads['has_member_single_ms']:.3f} / {reads['has_member_parted_ms']:.3f} ms"
        f" (x{reads['has_member_ratio']}); a member's segments {reads['member_segments_single_ms']:.3f}"
        f" / {reads['member_segments_parted_ms']:.3f} ms (x{reads['member_segments_ratio']})"
    )
    life = part["lifecycle"]
    lines.append(
        f"  a segment's life: first refresh {life['single_first_refresh_ms']:.0f} /"
        f" {life['parted_first_refresh_ms']:.0f} ms; delete {life['single_delete_ms']:.0f} ms (DELETE)"
        f" / {life['parted_drop_ms']:.1f} ms (DROP TABLE); create partition {life['parted_create_ms']:.1f} ms"
    )
    waits = ", ".join(f"{name} {value}" for name, value in part["locks"].items())
    lines.append(f"  with a refresh open: {waits}")
    return "\n".join(lines)
