"""The example project of django-segments: a small subscription business (``make demo``)."""
