"""Smoke test of the benchmarks: ``python -m bench --quick --only ranges`` in a subprocess.

The subprocess uses the test run's server (``DATABASE_URL``, exported by tests/settings.py)
and creates a database of its own there, so it never touches the test database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = {
    "create_span",
    "append",
    "insert",
    "split",
    "merge",
    "shift_by_value",
    "shift_lower_to_value",
    "delete",
}
ROW_KEYS = {
    "model",
    "op",
    "segments",
    "library_statements",
    "baseline_statements",
    "library_round_trips",
    "baseline_round_trips",
    "library_ms",
    "baseline_ms",
    "ratio",
    "ratio_quartiles",
    "library_sql_ms",
    "baseline_sql_ms",
    "sql_ratio",
    "library_sent",
}


def run_quick_ranges(output: Path) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "SEGMENTS_BENCH_DB": f"segments_bench_smoke_{os.getpid()}",
    }
    command = [sys.executable, "-m", "bench", "--quick", "--only", "ranges", "--output", str(output)]
    proc = subprocess.run(  # noqa: S603 - a fixed command line
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Targets" in proc.stdout
    (output.parent / "stdout.txt").write_text(proc.stdout)
    return json.loads(output.read_text())


def test_quick_ranges_benchmark(tmp_path):
    results = run_quick_ranges(tmp_path / "results.json")

    assert set(results) >= {"meta", "ranges"}
    assert results["meta"]["quick"] is True
    machine = results["meta"]["machine"]
    assert machine["python_loop_ms"] > 0
    assert machine["select_1_ms"] > 0
    ranges = results["ranges"]
    assert set(ranges) >= {"sizes", "repetitions", "rows", "constant", "machine_after"}
    assert ranges["machine_after"]["python_loop_ms"] > 0
    assert len(ranges["sizes"]) >= 2
    errors = [row for row in ranges["rows"] if "error" in row]
    assert not errors
    for row in ranges["rows"]:
        assert set(row) >= ROW_KEYS
        assert row["library_ms"] > 0
        assert row["baseline_ms"] > 0
        assert 1 <= row["library_round_trips"] <= row["library_statements"]
        assert 1 <= row["baseline_round_trips"] <= row["baseline_statements"]
        low, high = row["ratio_quartiles"]
        assert 0 < low <= high, row
        assert row["library_sql_ms"] > 0
        assert row["baseline_sql_ms"] > 0
        # Recorded below Django: the savepoint travelling in front of the first string is in it.
        assert row["library_sent"][0].startswith('SAVEPOINT "django_segments_0"; '), row["library_sent"]
        assert "%s" not in row["library_sent"][0]  # bound
    counts: dict[tuple[str, str], dict[int, int]] = {}
    for row in ranges["rows"]:
        counts.setdefault((row["model"], row["op"]), {})[row["segments"]] = (
            row["library_statements"],
            row["library_round_trips"],
        )
    assert {model for model, _ in counts} == {"tiling", "free"}
    for model in ("tiling", "free"):
        assert {op for m, op in counts if m == model} >= OPERATIONS
    for (model, op), by_size in counts.items():
        assert set(by_size) == set(ranges["sizes"]), (model, op)
        assert len(set(by_size.values())) == 1, (
            f"{model}.{op}: statements or round trips vary with span size: {by_size}"
        )
    assert all(ranges["constant"].values())
    assert "SQL alone" in (tmp_path / "stdout.txt").read_text()


def _row(op: str, segments: int, ratio: float, quartiles: list[float], sql_ratio: float = 1.2) -> dict:
    return {
        "model": "free",
        "op": op,
        "segments": segments,
        "library_statements": 2,
        "ratio": ratio,
        "ratio_quartiles": quartiles,
        "sql_ratio": sql_ratio,
    }


def test_a_missed_range_target_says_whether_it_stands_out_of_the_noise():
    """A size that misses the 1.5x target shows the middle half of its paired ratios; the
    miss is firm when at some size even the lower quartile is above the target. A miss
    also shows the ratios of its SQL alone, and the summary counts the misses whose SQL
    alone is within the target at every size."""
    from bench import report

    rows = [
        _row("split", 10, 1.52, [1.45, 1.60]),
        _row("split", 1000, 1.40, [1.30, 1.50]),
        _row("insert", 10, 1.70, [1.62, 1.80]),
        _row("insert", 1000, 1.55, [1.40, 1.70], sql_ratio=1.52),
        _row("merge", 10, 1.20, [1.10, 1.30]),
    ]
    ranges = {"rows": rows, "constant": {"free.split": True, "free.insert": True, "free.merge": True}}
    found = {item["target"]: item for item in report.targets({"ranges": ranges})}
    split = found["ranges free.split: within 1.5x of baseline at every size"]
    insert = found["ranges free.insert: within 1.5x of baseline at every size"]
    merge = found["ranges free.merge: within 1.5x of baseline at every size"]
    assert (split["verdict"], insert["verdict"], merge["verdict"]) == ("MISS", "MISS", "PASS")
    assert split["measured"].endswith("n=10: x1.45-x1.60 (within noise); SQL alone x1.20 / x1.20")
    assert insert["measured"].endswith(
        "n=10: x1.62-x1.80, n=1000: x1.40-x1.70 (firm); SQL alone x1.20 / x1.52"
    )
    assert merge["measured"] == "x1.20"
    summary = report._targets(list(found.values())).splitlines()[-1]
    assert summary.endswith(
        "1 of 3 pairs; of the 2 misses, 1 within the noise of the run,"
        " 1 with their SQL alone within 1.5x at every size"
    )


def _speeds(start: float, **after: float) -> dict:
    results: dict = {"meta": {"machine": {"python_loop_ms": start, "select_1_ms": 0.1}}}
    for area, loop_ms in after.items():
        results[area] = {"machine_after": {"python_loop_ms": loop_ms, "select_1_ms": 0.1}}
    return results


def test_a_run_whose_machine_slowed_down_is_flagged():
    """The machine's speed is measured at the start and after each area; the report says
    whether it stayed within 1.25x, and warns, in the header and under the targets, when
    it did not."""
    from bench import report

    steady = report._steadiness(_speeds(32.0, ranges=33.5, conditions=38.0))
    assert steady == (
        "machine steady through the run: 10**6 Python additions start 32.0, ranges 33.5, conditions 38.0 ms"
    )
    slowed = report._steadiness(_speeds(32.0, ranges=34.0, bulk=41.0))
    assert slowed is not None
    assert slowed.startswith(
        "WARNING machine not steady: 10**6 Python additions start 32.0, ranges 34.0, bulk 41.0 ms"
    )
    assert "(x1.28)" in slowed
    assert report._steadiness(_speeds(32.0)) is None  # measured once: nothing to compare
    assert report._steadiness({"meta": {}}) is None  # a run saved before the speeds were kept

    results = _speeds(32.0, memory=48.0)
    results["meta"].update(quick=True, server_version="18", python="3.11", started_at="now")
    results["memory"].update(
        batch_size=10,
        runs=[{"members": 10, "peak_mib": 1.0}, {"members": 100, "peak_mib": 1.1}],
        ratio_peak_large_small=1.1,
        ratio_members=10,
    )
    lines = report.render(results).splitlines()
    assert lines[2].startswith("WARNING machine not steady")  # under the header's speed line
    assert lines[-1].startswith("  WARNING machine not steady")  # and under the targets


def test_a_baseline_that_makes_another_change_stops_the_run(db):
    """Before timing, the library, the baseline and the library's strings sent again must
    leave the tables alike; a baseline that splits one value further is refused, naming
    the operation."""
    from bench import ranges

    tiling = next(model for model in ranges.models() if model.key == "tiling")
    fx = ranges.build(tiling, 10)
    split = next(op for op in ranges.OPERATIONS if op.name == "split")
    assert set(ranges._same_change(split, fx)) == {"library", "baseline"}

    def elsewhere(fx: ranges.Fixture) -> dict:
        return {**split.params(fx), "at": split.params(fx)["at"] + 1}

    wrong = ranges.Operation("split", split.library, split.section, elsewhere)
    with pytest.raises(AssertionError, match="tiling split n=10: library, baseline and replay changed"):
        ranges._same_change(wrong, fx)
