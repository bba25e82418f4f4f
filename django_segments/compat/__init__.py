"""Names of the libraries django-segments replaces, for code that moves over by changing imports.

* `django_segments.compat.conditions`: django-conditions 0.9.18 (``from conditions import
  ...``), with its documented behaviour where it differs from this library's stricter
  defaults.
* `django_segments.compat.segments`: groveco's django-segments (``from segments.models
  import Segment, SegmentMixin``): a ``Segment`` proxy of `UserSegment` with the old field
  and method names, and the mixin's live methods.
* `django_segments.compat.router`: ``SegmentsRouter``, the router groveco's README names.

New code should use the library's own names; docs/coming-from-django-conditions.md and
docs/coming-from-groveco-django-segments.md list every old name and its counterpart.
"""
