"""Smoke test of the benchmarks: ``python -m bench --quick --only ranges`` in a subprocess.

The subprocess uses the test run's server (``DATABASE_URL``, exported by tests/settings.py)
and creates a database of its own there, so it never touches the test database.
"""

from __future__ import annotations

import json
import os
import re
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
    "shift_segment",
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
    "library_receivers_ms",
    "baseline_ms",
    "ratio",
    "ratio_quartiles",
    "library_sql_ms",
    "library_receivers_sql_ms",
    "baseline_sql_ms",
    "sql_ratio",
    "beyond_sql_ms",
    "beyond_sql_receivers_ms",
    "receivers_same_sql",
    "library_sent",
}


def run_quick(area: str, output: Path) -> tuple[str, dict]:
    """``python -m bench --quick --only <area>`` in a database of its own: its stdout and
    the results it wrote to ``output``."""
    env = {
        **os.environ,
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "SEGMENTS_BENCH_DB": f"segments_bench_{area}_smoke_{os.getpid()}",
    }
    command = [sys.executable, "-m", "bench", "--quick", "--only", area, "--output", str(output)]
    proc = subprocess.run(  # noqa: S603 - a fixed command line
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout, json.loads(output.read_text())


def run_quick_ranges(output: Path) -> dict:
    stdout, results = run_quick("ranges", output)
    assert "Targets" in stdout
    (output.parent / "stdout.txt").write_text(stdout)
    return results


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
        assert row["library_round_trips"] >= 1
        assert row["library_statements"] >= 1
        assert 1 <= row["baseline_round_trips"] <= row["baseline_statements"]
        low, high = row["ratio_quartiles"]
        assert 0 < low <= high, row
        assert row["library_sql_ms"] > 0
        assert row["baseline_sql_ms"] > 0
        assert all("%(" not in sql and "%s" not in sql for sql in row["library_sent"])  # bound
        # Django's save() or delete() in Django's transaction: psycopg's BEGIN, recorded below
        # Django, is in the strings. An operation in autocommit: its strings are its
        # transaction, and receivers never change them.
        djangos = row["op"] in ("create_span", "delete", "delete_segment")
        assert row["library_sent"][0] != "BEGIN" or djangos, row["library_sent"]
        assert len(row["library_sent"]) == row["library_round_trips"], row["library_sent"]
        if not djangos:
            assert not any("SAVEPOINT" in sql for sql in row["library_sent"]), row["library_sent"]
            assert row["receivers_same_sql"], row["op"]
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


def _row(op: str, segments: int, trips: int, sql_ratio: float, *, beyond: float, ms: float) -> dict:
    return {
        "model": "tiling",
        "op": op,
        "segments": segments,
        "library_statements": 2,
        "library_round_trips": trips,
        "sql_ratio": sql_ratio,
        "beyond_sql_ms": beyond,
        "beyond_sql_receivers_ms": beyond / 2,
        "library_ms": ms,
        "whole_span": False,
    }


def test_range_targets_give_a_verdict_per_operation_and_kind():
    """Round trips (two for segment shifts), SQL within 1.3x, own time beyond the SQL
    within 0.3 ms with and without receivers, and the largest size within 1.5x of 10."""
    from bench import report

    rows = [
        _row("split", 10, 1, 1.2, beyond=0.2, ms=1.0),
        _row("split", 100000, 1, 1.25, beyond=0.25, ms=1.4),
        _row("insert", 10, 2, 1.4, beyond=0.4, ms=1.0),
        _row("insert", 100000, 1, 1.2, beyond=0.2, ms=1.6),
        _row("shift_segment", 10, 2, 1.1, beyond=0.1, ms=1.0),
        _row("shift_segment", 100000, 2, 1.1, beyond=0.1, ms=1.0),
    ]
    constant = {"tiling.split": True, "tiling.insert": True, "tiling.shift_segment": True}
    found = {
        item["target"]: item
        for item in report.targets({"ranges": {"rows": rows, "constant": constant, "sizes": [10, 100000]}})
    }
    verdicts = {name: item["verdict"] for name, item in found.items()}
    assert verdicts["ranges tiling.split: 1 round trip"] == "PASS"
    assert verdicts["ranges tiling.insert: 1 round trip"] == "MISS"
    assert verdicts["ranges tiling.shift_segment: 2 round trips"] == "PASS"
    assert verdicts["ranges tiling.split: its SQL within 1.3x of the hand-written SQL"] == "PASS"
    assert verdicts["ranges tiling.insert: its SQL within 1.3x of the hand-written SQL"] == "MISS"
    beyond = "own time beyond its SQL <= 0.3 ms (no|all receivers)"
    assert verdicts[f"ranges tiling.split: {beyond}"] == "PASS"
    assert verdicts[f"ranges tiling.insert: {beyond}"] == "MISS"
    assert verdicts["ranges tiling.split: at n=100000 within 1.5x of n=10"] == "PASS"
    assert verdicts["ranges tiling.insert: at n=100000 within 1.5x of n=10"] == "MISS"
    assert found["ranges tiling.insert: at n=100000 within 1.5x of n=10"]["measured"].endswith("x1.60")
    summary = report._targets(list(found.values())).splitlines()
    assert "  ranges, its SQL within 1.3x of the hand-written SQL: 2 of 3 PASS" in summary


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


@pytest.mark.django_db(transaction=True)
def test_a_baseline_that_makes_another_change_stops_the_run():
    """Before timing, the library, the baseline and the library's strings sent again must
    leave the tables alike (the bench calls operations in autocommit, as users do); a
    baseline that splits one value further is refused, naming the operation."""
    from bench import ranges

    tiling = next(model for model in ranges.models() if model.key == "tiling")
    fx = ranges.build(tiling, 10)
    split = next(op for op in ranges.OPERATIONS if op.name == "split")
    assert set(ranges._same_change(split, fx)) == {"library", "library_receivers", "baseline"}

    def elsewhere(fx: ranges.Fixture) -> dict:
        return {**split.params(fx), "at": split.params(fx)["at"] + 1}

    wrong = ranges.Operation("split", split.library, split.section, elsewhere)
    with pytest.raises(AssertionError, match="tiling split n=10: library, baseline and replay changed"):
        ranges._same_change(wrong, fx)


def test_the_timeit_snippet_of_the_benchmarks_doc_runs():
    """The "Measure it yourself" block of docs/benchmarks.md, pasted into Python as the
    doc says (few repetitions), prints its three figures."""
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    after = text.split("**Measure it yourself.**", 1)[1]
    snippet = after.split("```python\n", 1)[1].split("```", 1)[0]
    env = {
        **os.environ,
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "SEGMENTS_BENCH_DB": f"segments_timeit_smoke_{os.getpid()}",
        "SEGMENTS_TIMEIT_REPEAT": "2",
    }
    proc = subprocess.run(
        [sys.executable, "-"],
        input=snippet,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = proc.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "append, span fetched with the ORM",
        "the same change by hand",
        "append, receivers",
    ]
    assert all(float(line.split(": ")[1].split()[0]) > 0 for line in lines)


def test_quick_partitioning_benchmark(tmp_path):
    """One membership table against one partitioned by segment, at the quick size: both
    tables saw the same refreshes and reads (the bench asserts it), and every figure is there."""
    stdout, results = run_quick("partitioning", tmp_path / "results.json")
    assert "Partitioning: 10 segments x 2000 members (20000 rows, bigint member key)" in stdout
    part = results["partitioning"]
    assert [row["change_percent"] for row in part["one_segment"]] == [0, 1]
    assert [row["changed"] for row in part["one_segment"]] == [0, 20]  # 1% of 2,000
    for row in part["one_segment"]:
        assert row["single_ms"] > 0
        assert row["parted_ms"] > 0
        assert row["ratio"] > 0
    assert all(row["single_s"] > 0 and row["parted_s"] > 0 for row in part["all_segments"])
    reads = part["reads"]
    assert reads["has_member_ratio"] > 0
    assert reads["member_segments_ratio"] > 0
    # The probe by (segment, member) reads one partition; a member's listing reads them all.
    assert len(set(re.findall(r"bench_part_parted_s\d+", reads["has_member_explain"]["parted"]))) == 1
    assert len(set(re.findall(r"bench_part_parted_s\d+", reads["member_segments_explain"]["parted"]))) == 10
    assert part["lifecycle"]["parted_drop_ms"] > 0
    # A partition made with CREATE TABLE ... PARTITION OF waits for a refresh of another
    # segment, and reads queue behind it; one attached with ATTACH PARTITION does not wait.
    assert part["locks"] == {
        "create_partition_of_waits": True,
        "attach_partition_waits": False,
        "drop_partition_waits": True,
        "read_waits_behind_create": True,
    }
    assert all(size > 0 for size in part["sizes_bytes"].values())


MEMBERSHIP_RATIOS = (
    "ratio_library_cte",
    "ratio_library_python",
    "ratio_library_matview",
    "ratio_library_concurrently",
)


def test_quick_membership_benchmark(tmp_path):
    """The refresh next to its peers at two sizes and three change rates, the first
    refresh, memory, the exec login, the breakdown and the reads: every figure is there,
    every ratio a number (the MERGE's only from PostgreSQL 17), every target a verdict."""
    stdout, results = run_quick("membership", tmp_path / "results.json")
    assert "Membership refresh next to its peers" in stdout
    mem = results["membership"]
    assert mem["sizes"] == [2_000, 20_000]
    assert [(row["members"], row["change_percent"]) for row in mem["refresh"]] == [
        (size, percent) for size in mem["sizes"] for percent in (0, 1, 50)
    ]
    merge = mem["merge_supported"]
    for row in mem["refresh"]:
        assert row["changed_members"] == row["members"] * row["change_percent"] // 100
        for key in MEMBERSHIP_RATIOS:
            assert isinstance(row[key], float), (key, row)
            assert row[key] > 0, (key, row)
        assert isinstance(row["ratio_library_merge"], float) if merge else row["ratio_library_merge"] is None
    assert mem["first_refresh"]["ratio"] > 0
    assert mem["first_refresh"]["members"] == 20_000
    assert [run["members"] for run in mem["memory"]] == mem["sizes"]
    assert mem["ratio_peak_large_small"] > 0
    assert all(run["ratio"] > 0 for run in mem["exec_vs_writer"])
    for split in mem["breakdown"]:
        assert all(split[f"{part}_ms"] > 0 for part in ("diff", "stream_copy", "analyze"))
    for read in ("has_member", "is_member", "member_segments", "segment_members"):
        assert mem["reads"][read]["ratio"] > 0
        assert mem["reads"][read]["statements"] == 1
    from bench import report

    verdicts = {item["target"]: item["verdict"] for item in report.targets(results)}
    membership = [name for name in verdicts if name.startswith("membership: ")]
    assert len(membership) == 3 * 6 + 1 + 1 + 1 + 2 + 4
    merges = [verdicts[name] for name in membership if "MERGE" in name]
    assert all((verdict != "n/a") == merge for verdict in merges)
