"""The Celery app of the scaling tests (``celery -A tests.scaling_celery_app worker``).

The worker processes read broker, result backend and queue from the environment the test
sets; the test process builds the same app with `make_app`. The tasks are those of
`django_segments.contrib.celery`, bound to the current app by ``shared_task``.
"""

import os

import django
from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.scaling_worker_settings")
django.setup()

import django_segments.contrib.celery  # noqa: E402, F401 - registers the shared tasks


def make_app(broker: str, backend: str, queue: str) -> Celery:
    """A Celery app on ``broker`` whose tasks go to ``queue``."""
    app = Celery("segments_tests")
    app.conf.update(
        broker_url=broker,
        result_backend=backend,
        result_extended=True,  # results name the worker that ran the task
        result_expires=600,
        task_default_queue=queue,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=False,
    )
    return app


if "SEGMENTS_CELERY_BROKER" in os.environ:
    app = make_app(
        os.environ["SEGMENTS_CELERY_BROKER"],
        os.environ["SEGMENTS_CELERY_BACKEND"],
        os.environ["SEGMENTS_CELERY_QUEUE"],
    )
