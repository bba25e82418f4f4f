"""The printed table and the PASS/MISS verdicts of the targets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

RANGE_RATIO_TARGET = 1.5
BULK_RATIO_TARGET = 1.3
CONDITIONS_RATIO_TARGET = 100
MEMORY_FLAT_LIMIT = 1.5
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
        bulk = results["bulk"]
        value = bulk["ratio_library_exclusion"]
        shown = f"(c)/(b) = {value}x" + (" (lower bound: timed out)" if bulk["library_timed_out"] else "")
        found.append(_target("bulk: enforcement (c)/(b) <= 1.3x", shown, value <= BULK_RATIO_TARGET))
    if "membership" in results:
        one = next(row for row in results["membership"]["refresh"] if row["change_percent"] == 1)
        value = one["ratio_library_concurrently"]
        lib = "timeout" if one["library_timed_out"] else f"{one['library_ms']:.0f} ms"
        shown = f"{lib} vs {one['matview_concurrently_ms']:.0f} ms (x{value})"
        found.append(
            _target("membership: refresh at 1% faster than REFRESH ... CONCURRENTLY", shown, value < 1)
        )
    if "conditions" in results:
        cond = results["conditions"]
        value = cond["ratio_python_compiled"]
        shown = f"x{value} at {cond['users']} users"
        found.append(_target("conditions: compiled >= 100x faster than Python loop", shown, value >= 100))
    if "memory" in results:
        mem = results["memory"]
        value = mem["ratio_peak_large_small"]
        shown = f"peak x{value} for x{mem['ratio_members']} members"
        found.append(_target("memory: refresh peak stays flat (<= 1.5x)", shown, value <= MEMORY_FLAT_LIMIT))
    return found


def _target(name: str, shown: str, ok: bool | None) -> dict[str, Any]:
    return {"target": name, "measured": shown, "verdict": verdict(ok)}


def _range_targets(ranges: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in ranges["rows"]:
        groups.setdefault(f"{row['model']}.{row['op']}", []).append(row)
    for key, rows in groups.items():
        ok_rows = [row for row in rows if "error" not in row]
        constant = ranges["constant"][key] and len(ok_rows) == len(rows)
        counts = "/".join(str(row.get("library_statements")) for row in ok_rows)
        found.append(_target(f"ranges {key}: same statement count at every size", counts, constant))
        ratios = [row["ratio"] for row in ok_rows if row["ratio"] is not None]
        ok = None if not ratios else max(ratios) <= RANGE_RATIO_TARGET
        shown = " / ".join(f"x{value:.2f}" for value in ratios)
        missed = [row for row in ok_rows if row["ratio"] is not None and row["ratio"] > RANGE_RATIO_TARGET]
        noise = sql_within = None
        if missed:
            spread, noise = _spread(missed)
            shown += f"; {spread}"
            sql = [row.get("sql_ratio") for row in ok_rows]
            if None not in sql:
                shown += "; SQL alone " + " / ".join(f"x{value:.2f}" for value in sql)
                sql_within = max(sql) <= RANGE_RATIO_TARGET
        item = _target(f"ranges {key}: within 1.5x of baseline at every size", shown, ok)
        found.append({**item, "noise": noise, "sql_within": sql_within})
    return found


def _spread(missed: list[dict[str, Any]]) -> tuple[str, str | None]:
    """Where a size missed the target: the middle half of that size's paired ratios (one
    library / baseline pair per round), and whether the miss stands out of that noise
    ("firm": at some size even the lower quartile is above the target; None when no size
    recorded its paired ratios)."""
    parts, lows = [], []
    for row in missed:
        low, high = row.get("ratio_quartiles") or (None, None)
        if low is None or high is None:
            continue
        parts.append(f"n={row['segments']}: x{low:.2f}-x{high:.2f}")
        lows.append(low)
    if not parts:
        return "paired ratios not recorded", None
    noise = "firm" if any(low > RANGE_RATIO_TARGET for low in lows) else "within noise"
    return f"middle half of paired ratios {', '.join(parts)} ({noise})", noise


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
        f"Range operations: median of {_reps(ranges)}; per span size: statements library/baseline"
        " (round trips library/baseline), time library/baseline in ms, ratio",
        36,
        _whole_cell,
    )
    sql_alone = _by_size(
        ranges,
        "SQL alone: the strings each side sent, sent again from a bare psycopg cursor; per span"
        " size: time library/baseline in ms, ratio, and the library's own time beyond its SQL"
        " (Python: instances, Django's cursor and transaction, results) in ms",
        30,
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
        f"{row['library_statements']}/{row['baseline_statements']}"
        f" ({row['library_round_trips']}/{row['baseline_round_trips']})"
        f" {row['library_ms']:.2f}/{row['baseline_ms']:.2f} x{row['ratio']:.2f}"
    )


def _sql_alone_cell(row: dict[str, Any]) -> str:
    """SQL alone library/baseline, their ratio, and the library's time beyond its SQL."""
    if "error" in row or row.get("sql_ratio") is None:
        return "-"
    rest = row["library_ms"] - row["library_sql_ms"]
    return f"{row['library_sql_ms']:.2f}/{row['baseline_sql_ms']:.2f} x{row['sql_ratio']:.2f} {rest:+.2f}"


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
    return "\n".join(lines)


def _membership(mem: dict[str, Any]) -> str:
    lines = [
        f"Membership: segment of {mem['members']} members ({mem['definition']});"
        f" first refresh {mem['first_refresh_ms']:.0f} ms"
        + (" (under tracemalloc)" if mem.get("first_refresh_traced") else ""),
        f"  {'change':>7} {'changed':>9} {'refresh':>11} {'MATVIEW':>11} {'CONCURRENTLY':>13}"
        f" {'/MATVIEW':>9} {'/CONC.':>8} {'reps':>5}",
    ]
    for row in mem["refresh"]:
        lib = (
            f"{'> ' + str(row['library_timeout_s']) + ' s':>11}"
            if row["library_timed_out"]
            else f"{row['library_ms']:>8.0f} ms"
        )
        changed = "?" if row["changed_members"] is None else row["changed_members"]
        lines.append(
            f"  {row['change_percent']:>6}% {changed:>9} {lib}"
            f" {row['matview_ms']:>8.0f} ms {row['matview_concurrently_ms']:>10.0f} ms"
            f" {'x' + str(row['ratio_library_matview']):>9} {'x' + str(row['ratio_library_concurrently']):>8}"
            f" {row['repetitions']:>5}"
        )
    reads = mem["reads"]
    lines.append(
        f"  reads with {reads['segments']} segments: is_member {reads['is_member_ms']:.3f} ms"
        f" ({reads['is_member_statements']} statement); segments of one member"
        f" ({reads['segments_per_member']}) {reads['member_segments_ms']:.3f} ms"
        f" ({reads['member_segments_statements']} statement)"
    )
    return "\n".join(lines)


def _conditions(cond: dict[str, Any]) -> str:
    return (
        f"Conditions over {cond['users']} users ({cond['matching']} match):"
        f" compiled COUNT {cond['compiled_ms']:.2f} ms; Python loop {cond['python_loop_ms']:.0f} ms"
        f" (x{cond['ratio_python_compiled']}); evaluation only {cond['python_evaluate_only_ms']:.0f} ms"
        f" (x{cond['ratio_evaluate_only_compiled']})"
    )


def _memory(mem: dict[str, Any]) -> str:
    runs = "; ".join(f"{run['members']} members: peak {run['peak_mib']} MiB" for run in mem["runs"])
    return f"Peak Python memory of a refresh (tracemalloc, batch {mem['batch_size']}): {runs}"


def _targets(found: list[dict[str, Any]]) -> str:
    lines = ["Targets"]
    for item in found:
        lines.append(f"  {item['verdict']:5} {item['target']:72} {item['measured']}")
    within = [item for item in found if item["target"].endswith("within 1.5x of baseline at every size")]
    if within:
        passed = sum(item["verdict"] == "PASS" for item in within)
        noisy = sum(item["noise"] == "within noise" for item in within)
        sql_ok = sum(item.get("sql_within") is True for item in within)
        lines.append(
            f"  range operations within 1.5x at every size: {passed} of {len(within)} pairs;"
            f" of the {len(within) - passed} misses, {noisy} within the noise of the run,"
            f" {sql_ok} with their SQL alone within 1.5x at every size"
        )
    return "\n".join(lines)
