"""Settings for mypy's Django plugin (``[tool.django-stubs]`` in pyproject.toml): the test
settings, without starting a database server.

NOTE - the plugin imports the settings but never connects. With ``DATABASE_URL`` unset,
`tests.settings` would start an embedded server, and mypy exits without running
``atexit``, which would leave that server running.
"""

import os

os.environ.setdefault("DATABASE_URL", "postgresql://localhost/typecheck-only")

from tests.settings import *  # noqa: F403
