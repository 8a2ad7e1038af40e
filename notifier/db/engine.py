"""Engines and schema upgrades.

SQLite is the default: one file, WAL journal (readers never block the writer), foreign keys on,
a busy timeout so concurrent writers wait instead of failing, ``synchronous=NORMAL`` (durable
at every checkpoint, fast enough for a million-row outbox). PostgreSQL works through
``postgresql+psycopg://``; plain ``postgresql://`` URLs are pointed at psycopg 3 too.

The schema is created only by the Alembic migrations shipped in ``notifier/db/migrations``, so
``upgrade()`` works from an installed package without an ``alembic.ini``.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

__all__ = [
    "DEFAULT_URL",
    "MIGRATIONS_DIR",
    "SchemaChange",
    "alembic_config",
    "database_reachable",
    "has_table",
    "make_engine",
    "upgrade",
    "write_transaction",
]

DEFAULT_URL = "sqlite:///subscribers.db"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_CACHE_KIB = 64 * 1024
SQLITE_MMAP_BYTES = 256 * 1024 * 1024

# SQLite builds without SQLITE_ENABLE_MATH_FUNCTIONS lack these; the fan-out distance uses them.
_MATH_FUNCTIONS: dict[str, Any] = {
    "sin": math.sin,
    "cos": math.cos,
    "asin": math.asin,
    "sqrt": math.sqrt,
    "radians": math.radians,
    "floor": math.floor,
}


def _normalize_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_has_math(dbapi_conn: sqlite3.Connection) -> bool:
    try:
        dbapi_conn.execute("SELECT sin(0), asin(0), sqrt(1), radians(0), floor(1)").fetchone()
    except sqlite3.OperationalError:
        return False
    return True


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide where transactions begin (pysqlite's implicit
        # BEGIN breaks SAVEPOINTs); see the "begin" listener below.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # A million subscribers outgrow the default 2 MB page cache; sorts of 100k ranked
        # recipients belong in memory; mmap saves a copy per page read. (Upper bounds only.)
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.close()
        if not _sqlite_has_math(dbapi_conn):
            for name, function in _MATH_FUNCTIONS.items():
                dbapi_conn.create_function(name, 1, function, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front, so a read-then-write transaction cannot fail
        # with SQLITE_BUSY_SNAPSHOT when another writer commits in between.
        immediate = conn.info.get("sqlite_begin_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str = DEFAULT_URL, **kwargs: Any) -> Engine:
    """An engine for ``url`` (SQLite file or PostgreSQL), configured for this service."""
    url = _normalize_url(url)
    parsed = make_url(url)
    # Bound values are phone numbers and emails: keep them out of exception messages and logs.
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """``engine.begin()`` for a transaction that reads and then writes.

    On SQLite it starts with ``BEGIN IMMEDIATE`` (waits for the write lock up front, up to the
    busy timeout); elsewhere it is a plain transaction.
    """
    with engine.connect() as conn:
        conn.info["sqlite_begin_immediate"] = True
        try:
            with conn.begin():
                yield conn
        finally:
            conn.info.pop("sqlite_begin_immediate", None)


def database_reachable(engine: Engine) -> bool:
    """Whether a trivial query succeeds (the health check)."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True


def has_table(conn: Connection, name: str) -> bool:
    """Whether the schema has table ``name`` yet (before ``notifier db upgrade``, it does not)."""
    return bool(inspect(conn).has_table(name))


def alembic_config(url: str | None = None) -> Any:
    """An Alembic ``Config`` pointing at the packaged migrations (no ini file needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser treats "%" as interpolation; escape it (URL-encoded passwords).
        config.set_main_option("sqlalchemy.url", _normalize_url(url).replace("%", "%%"))
    return config


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """What ``upgrade()`` did: revisions before and after (``None``: no schema yet)."""

    before: str | None
    after: str | None

    def describe(self) -> str:
        if self.before is None:
            return f"created the database schema (revision {self.after})"
        if self.before == self.after:
            return f"the database schema is already up to date (revision {self.after})"
        return f"migrated the database schema from revision {self.before} to {self.after}"


def upgrade(engine_or_url: Engine | str, revision: str = "head") -> SchemaChange:
    """Run the migrations up to ``revision`` (default: the newest); says what changed."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    config = alembic_config()
    try:
        with engine.begin() as conn:
            before = MigrationContext.configure(conn).get_current_revision()
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            after = MigrationContext.configure(conn).get_current_revision()
    finally:
        if isinstance(engine_or_url, str):
            engine.dispose()
    return SchemaChange(before, after)
