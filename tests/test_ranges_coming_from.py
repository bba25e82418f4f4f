"""The "Coming from the range-based django-segments" page: every code block on it runs,
and its table lists every public name of the reference design.

The blocks run in a subprocess as those of the other "Coming from" pages do
(`tests.test_conditions_coming_from`), and the span and segment models a block defines
also get their triggers, as ``migrate`` would install them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.test_conditions_coming_from import (
    _run_python,
    _schema,
    app_in_temporary_directory,
    blocks,
    table_names,
)

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "coming-from-range-segments.md"

#: Public names of the reference design (its models, configuration, settings, methods,
#: exceptions, signals, context managers and command), as the page's table spells them.
REFERENCE_NAMES = {
    "django_segments.models.span.AbstractSpan",
    "django_segments.models.segment.AbstractSegment",
    "SpanQuerySet, SpanManager",
    "SegmentQuerySet, SegmentManager",
    "SpanConfig.range_field_type",
    "SpanConfig.range_type",
    "SpanConfig.allow_span_gaps",
    "SpanConfig.allow_segment_gaps",
    "SpanConfig.soft_delete",
    "SegmentConfig.span_model",
    "SegmentConfig.previous_field_on_delete",
    "SegmentConfig.span_on_delete",
    "SegmentConfig.span_related_name",
    "SegmentConfig.span_related_query_name",
    "DEFAULT_RELATED_NAME",
    "DEFAULT_RELATED_QUERY_NAME",
    "DJANGO_SEGMENTS_MODEL_BASE",
    "POSTGRES_RANGE_FIELDS",
    "ALLOW_SPAN_GAPS",
    "ALLOW_SEGMENT_GAPS",
    "SOFT_DELETE",
    "PREVIOUS_FIELD_ON_DELETE",
    "SPAN_ON_DELETE",
    *(
        f"span.{name}"
        for name in (
            "shift_by_value(delta_value)",
            "shift_lower_by_value(delta_value)",
            "shift_upper_by_value(delta_value)",
            "shift_lower_to_value(to_value)",
            "shift_upper_to_value(to_value)",
            "append(to_value=None, delta_value=None, **kwargs)",
            "delete()",
            "get_segments()",
            "get_active_segments()",
            "get_inactive_segments()",
            "segment_count",
            "first_segment",
            "last_segment",
        )
    ),
    *(
        f"segment.{name}"
        for name in (
            "shift_by_value(delta_value)",
            "shift_lower_by_value(delta_value)",
            "shift_upper_by_value(delta_value)",
            "shift_lower_to_value(to_value)",
            "shift_upper_to_value(to_value)",
            "split(split_value, fields_to_copy=None)",
            "merge_into_upper()",
            "merge_into_lower()",
            "append(...)",
            "delete()",
            "previous",
            "previous_segment",
            "next_segment",
            "first",
            "is_first",
            "is_first_and_last",
            "is_internal",
            "is_active",
        )
    ),
    "Segment.insert(span=..., segment_range=...)",
    "IncorrectSubclassError",
    "IncorrectSegmentRangeError",
    "IncorrectSpanRangeError",
    "IncorrectRangeTypeError",
    "InvalidRangeFieldNameError",
    "SegmentRelationshipError",
    *(f"{prefix}_pre_{event}" for prefix in ("span", "segment") for event in ("create", "update", "delete")),
    "span_pre_soft_delete",
    "segment_pre_soft_delete",
    "span_pre_delete_or_soft_delete",
    "segment_pre_delete_or_soft_delete",
    "span_create_failed",
    "segment_create_failed",
    "SpanCreateSignalContext",
    "manage.py django_segments_models",
}


def listed(text: str) -> set[str]:
    """The names the first column of the page's tables lists: each of its code spans, and
    the spans of a cell that names several joined with ", " (``SpanQuerySet, SpanManager``)."""
    names = set()
    for row in text.splitlines():
        if row.startswith("| `"):
            spans = re.findall(r"`([^`]+)`", row.split(" | ")[0])
            names.update(spans)
            names.add(", ".join(spans))
    return names


def test_the_table_lists_every_public_name_of_the_reference() -> None:
    text = PAGE.read_text()
    assert table_names(text), "the page has no table"
    names = listed(text)
    missing = REFERENCE_NAMES - names
    assert not missing, f"{PAGE.name} lacks rows for {sorted(missing)}"


def test_the_page_is_in_the_docs_navigation() -> None:
    assert f": {PAGE.name}" in (ROOT / "mkdocs.yml").read_text()


@pytest.mark.django_db(transaction=True)
def test_every_code_block_of_the_page_runs() -> None:
    from django.db import connection

    python = [body for language, body in blocks(PAGE.read_text()) if language == "python"]
    assert python, f"{PAGE.name} has no python blocks"
    result = subprocess.run(  # noqa: S603 - this very module, fixed arguments
        [sys.executable, "-m", __name__, str(PAGE), connection.settings_dict["NAME"]],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ran {len(python)} python block(s)" in result.stdout


# --- the subprocess ---------------------------------------------------------------------


def _triggers(action: str, models: list[Any]) -> None:
    """Install (or uninstall) the pgtrigger triggers of ``models``."""
    import pgtrigger

    for model, trigger in pgtrigger.registered():
        if model in models:
            getattr(trigger, action)(model)


def main(page: str, database: str) -> int:
    """Run the page's python blocks against ``database`` with an app ``myapp``."""
    with app_in_temporary_directory(database):
        found = [body for language, body in blocks(Path(page).read_text()) if language == "python"]
        shell: dict[str, Any] = {"__name__": "__shell__"}
        created: list[Any] = []
        try:
            for number, body in enumerate(found, start=1):
                before = list(created)
                _run_python(body, number, shell, created)
                _triggers("install", [model for model in created if model not in before])
        finally:
            _triggers("uninstall", created)
            _schema("delete_model", list(reversed(created)))
    print(f"ran {len(found)} python block(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
