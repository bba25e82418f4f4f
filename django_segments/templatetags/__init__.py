"""Template tags of django-segments (``{% load segments_timeline %}``)."""
