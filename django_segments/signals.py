"""Signals sent by span and segment operations (26 in all), and by user segments' refreshes.

Lifecycle, for ``span_`` and ``segment_`` each: ``pre/post_create``, ``pre/post_update``,
``pre/post_delete``, ``pre/post_soft_delete``, ``pre/post_delete_or_soft_delete``.
Operations on segments: ``segment_pre/post_split``, ``segment_pre/post_merge``,
``segment_pre/post_insert``.

Nesting order: general pre, specific pre, the change, specific post, general post. For
a soft delete: ``*_pre_delete_or_soft_delete``, ``*_pre_soft_delete``, ...,
``*_post_soft_delete``, ``*_post_delete_or_soft_delete``; for a split:
``segment_pre_update``, ``segment_pre_split``, ..., ``segment_post_split``,
``segment_post_update``. Every signal is sent with ``sender`` = the model class and
``instance`` (plus operation arguments as keyword arguments).

``user_segment_refreshed`` is the change feed of user segments: sent once the transaction of
a successful refresh (or of `UserSegment.archive`) commits, with ``sender`` =
`UserSegment`, ``segment``, ``run`` (its `RefreshRun`: ``run.entries()`` and
``run.exits()`` are the members who entered and left), ``result`` (the
`RefreshResult`) and ``archived`` (True for the archive). Failed refreshes change
nothing and send nothing; a refresh inside an outer transaction sends it when that one
commits, and never if it rolls back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.dispatch import Signal

span_pre_create = Signal()
span_post_create = Signal()
span_pre_update = Signal()
span_post_update = Signal()
span_pre_delete = Signal()
span_post_delete = Signal()
span_pre_soft_delete = Signal()
span_post_soft_delete = Signal()
span_pre_delete_or_soft_delete = Signal()
span_post_delete_or_soft_delete = Signal()

segment_pre_create = Signal()
segment_post_create = Signal()
segment_pre_update = Signal()
segment_post_update = Signal()
segment_pre_delete = Signal()
segment_post_delete = Signal()
segment_pre_soft_delete = Signal()
segment_post_soft_delete = Signal()
segment_pre_delete_or_soft_delete = Signal()
segment_post_delete_or_soft_delete = Signal()
segment_pre_split = Signal()
segment_post_split = Signal()
segment_pre_merge = Signal()
segment_post_merge = Signal()
segment_pre_insert = Signal()
segment_post_insert = Signal()

user_segment_refreshed = Signal()


@contextmanager
def nested(
    instance: Any, prefix: str, general: str, specific: str | None = None, **kwargs: Any
) -> Iterator[None]:
    """Send ``<prefix>_pre_<general>``, ``<prefix>_pre_<specific>``, run, then the posts.

    Post signals are sent only if the body succeeded.
    """
    names = [general] if specific is None else [general, specific]
    sender = type(instance)
    for name in names:
        globals()[f"{prefix}_pre_{name}"].send(sender=sender, instance=instance, **kwargs)
    yield
    for name in reversed(names):
        globals()[f"{prefix}_post_{name}"].send(sender=sender, instance=instance, **kwargs)
