"""User segments: definitions, materialized membership with history, safe SQL, refresh.

Models live in `django_segments.membership.models` and are imported by
`django_segments.models` so Django registers them under the ``django_segments`` app.
"""
