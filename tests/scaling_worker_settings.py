"""Settings of the worker processes the scaling tests start: the test settings, on the
test run's database (named by ``SEGMENTS_TEST_DATABASE``)."""

import os

from tests.settings import *  # noqa: F403

for _alias in DATABASES:  # noqa: F405
    DATABASES[_alias]["NAME"] = os.environ["SEGMENTS_TEST_DATABASE"]  # noqa: F405
