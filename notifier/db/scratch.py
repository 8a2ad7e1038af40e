"""Throwaway databases and statistics for the benchmarks (``notifier bench``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

__all__ = ["analyze", "scratch_postgres_database"]


def analyze(engine: Engine) -> None:
    """Refresh the planner statistics (after a bulk load, as a real deployment's autovacuum
    or a periodic ``ANALYZE`` would have them). In a committed transaction: ``ANALYZE`` may
    run in one on both databases, and on SQLite an autocommit connection still gets the
    engine's explicit ``BEGIN``, which a connection returned to the pool rolls back."""
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


def scratch_postgres_database(admin_url: str, prefix: str) -> tuple[str, Callable[[], None]] | None:
    """Create an empty database named ``<prefix>_<random>`` on the server of ``admin_url``;
    returns its URL and a function that drops it, or None when the server does not answer."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except OperationalError:
        admin.dispose()
        return None

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop
