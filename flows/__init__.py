"""Thin Prefect flows over the etl library."""

import os


def use_local_server_defaults() -> None:
    """Settings for Prefect's temporary local server, set before Prefect is imported.

    The temporary server keeps its state in SQLite and, on a busy two-core machine,
    can need more than the default 20 s to start; its telemetry heartbeat then
    races the run's own writes for the SQLite lock. Explicit settings still win.
    """
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_DATABASE_TIMEOUT", "60")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
