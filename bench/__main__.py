"""``python -m bench [--quick] [--only ranges,bulk,...] [--output PATH] [--keep]``."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

AREAS = ("ranges", "bulk", "conditions", "memory", "membership", "scaling", "partitioning")
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument(
        "--only", default=",".join(AREAS), help=f"comma-separated areas, default all: {','.join(AREAS)}"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="results file (JSON)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    args = parser.parse_args(argv)
    args.areas = [a.strip() for a in args.only.split(",") if a.strip()]
    unknown = sorted(set(args.areas) - set(AREAS))
    if unknown:
        parser.error(f"unknown area(s) {unknown}; choose from {list(AREAS)}")
    return args


def log(message: str) -> None:
    """Progress on stderr; the table goes to stdout."""
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Create the database, run the areas, print the table, write the results."""
    args = parse_args(argv)
    from bench import db

    name = db.bench_database()
    started = time.perf_counter()
    db.create_database(name)
    try:
        db.setup_django()
        results = run_areas(args)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            db.drop_database(name)
    results["meta"]["seconds"] = round(time.perf_counter() - started, 1)
    from bench import report

    print(report.render(results))
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    log(f"wrote {args.output}")
    return 0


def run_areas(args: argparse.Namespace) -> dict[str, Any]:
    """Run the selected areas in order; each returns its part of the results."""
    from django.db import connection

    from bench import measure

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    results: dict[str, Any] = {
        "meta": {
            "quick": args.quick,
            "areas": args.areas,
            "server_version": version,
            "python": sys.version.split()[0],
            "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": measure.calibrate(),
        }
    }
    for area in [a for a in AREAS if a in args.areas]:  # memory materializes for membership
        log(f"== {area}")
        module = importlib.import_module(f"bench.{area}")
        area_started = time.perf_counter()
        results[area] = module.run(quick=args.quick, log=log)
        results[area]["seconds"] = round(time.perf_counter() - area_started, 1)
        # The speed again after each area: a run whose machine slowed down on the way is
        # flagged in the report (its ratios are not comparable with a steady run's).
        results[area]["machine_after"] = measure.calibrate()
    return results


if __name__ == "__main__":
    sys.exit(main())
