"""Storage: every SQL statement of the project lives in this package.

All functions are synchronous and take a SQLAlchemy ``Connection`` (the async pipeline calls
them through ``asyncio.to_thread``). Bulk work is set-based SQL (SQLAlchemy Core), never a
per-row ORM loop. Modules: ``engine`` (engines, migrations), ``tables``, ``poll`` (a poll's one
read and one write), ``store`` (availability, poll runs), ``fanout`` (alerts into deliveries),
``waves`` (wave episodes), ``outbox`` (claims and delivery outcomes), ``subscribers``,
``signups`` and ``notices`` (sign-up and its confirmation outbox), ``schedule``,
``rate_buckets`` and ``signup_limits`` (multi-node), ``ops_watch`` (the failure-rate watch's
state), ``public`` and ``health`` (what the public pages and status read),
``metrics_queries``.
"""

from notifier.db.engine import DEFAULT_URL, make_engine, upgrade, write_transaction

__all__ = ["DEFAULT_URL", "make_engine", "upgrade", "write_transaction"]
