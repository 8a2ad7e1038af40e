"""procrastinate's schema (the job queue) inside our own migrations, applied once.

The SQL comes from the installed procrastinate package, so the queue's schema always matches
the library that reads it. A procrastinate upgrade that ships schema migrations needs a new
Alembic revision that applies them (procrastinate lists them in ``procrastinate/sql/migrations``).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

__all__ = ["QUEUE_TABLE", "apply_queue_schema", "has_queue_schema", "ours"]

QUEUE_TABLE = "procrastinate_jobs"
QUEUE_PREFIX = "procrastinate_"


def ours(name: str | None, type_: str, _parent_names: object = None) -> bool:
    """Alembic ``include_name``: the job queue's tables are procrastinate's, not ours, so
    autogenerate and the drift check leave them alone."""
    return not (type_ == "table" and (name or "").startswith(QUEUE_PREFIX))


def has_queue_schema(conn: Connection) -> bool:
    found = conn.execute(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": QUEUE_TABLE})
    return bool(found.scalar())


def apply_queue_schema(conn: Connection) -> bool:
    """Create procrastinate's tables, types and functions unless they exist; True if created."""
    from procrastinate.schema import SchemaManager

    if has_queue_schema(conn):
        return False
    schema_sql = SchemaManager.get_schema()
    # The raw psycopg connection: the script has no parameters, and its "%" signs must reach
    # the server as they are (a driver-level execute with parameters would read them).
    raw = conn.connection.driver_connection
    if raw is None:  # pragma: no cover - a pooled connection always has its driver connection
        raise RuntimeError("no driver connection to apply procrastinate's schema on")
    raw.execute(schema_sql)
    return True
