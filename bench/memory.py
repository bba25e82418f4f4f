"""Peak Python memory of a refresh (tracemalloc) at two member counts.

A segment's SQL definition is streamed from the exec connection in batches of
``SEGMENTS_REFRESH_BATCH_SIZE`` ids and copied into the database, so the peak should not
grow with the number of members. The traced refreshes are the first refreshes of a
segment of a tenth of the members and of the membership area's large segment (every
member enters); that area then reuses the large one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.measure import ratio
from bench.membership import first_refresh, member_count


def run(*, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Trace the first refresh of a small and a 10x larger segment; return both peaks."""
    from django_segments import conf

    members = member_count(quick=quick)
    rows = []
    for limit in (members // 10, None):
        first = first_refresh(members, limit=limit, traced=True)
        peak = first["peak_bytes"]
        mib = peak / 2**20
        log(f"  refresh of {first['members']} members: peak {mib:.2f} MiB, {first['ms']:.0f} ms (traced)")
        rows.append(
            {
                "members": first["members"],
                "peak_bytes": peak,
                "peak_mib": round(peak / 2**20, 2),
                "ms": first["ms"],
            }
        )
    return {
        "batch_size": conf.refresh_batch_size(),
        "runs": rows,
        "ratio_peak_large_small": ratio(rows[-1]["peak_bytes"], rows[0]["peak_bytes"]),
        "ratio_members": round(rows[-1]["members"] / rows[0]["members"]),
    }
