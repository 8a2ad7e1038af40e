"""Storage: SQLModel tables, Alembic migrations, set-based fan-out and the delivery outbox.

All functions are synchronous and take a SQLAlchemy ``Connection`` (the async pipeline calls
them through ``asyncio.to_thread``). Bulk work is set-based SQL (SQLAlchemy Core), never a
per-row ORM loop. Modules: ``engine`` (engines, migrations), ``models`` (tables), ``store``
(availability, polls, provider health), ``fanout`` (alerts into deliveries), ``outbox``
(claims and delivery outcomes, re-exported by ``fanout``), ``subscribers``.
"""

from notifier.db.engine import DEFAULT_URL, make_engine, upgrade, write_transaction

__all__ = ["DEFAULT_URL", "make_engine", "upgrade", "write_transaction"]
