"""Column types that behave the same on SQLite and PostgreSQL.

* ``UtcDateTime`` stores UTC. SQLite has no time zone type, so values are stored as naive UTC
  text (which sorts and compares correctly as strings); PostgreSQL uses ``timestamptz``. Either
  way Python always gets aware UTC datetimes back, and naive input is rejected rather than
  guessed, because a wrong offset silently breaks expiry and daily caps.
* ``JsonType`` is ``JSON`` on SQLite and ``JSONB`` on PostgreSQL (JSONB has the ``?|`` operator
  the fan-out filter match uses).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["JsonType", "UtcDateTime", "as_utc"]


def as_utc(value: dt.datetime) -> dt.datetime:
    """``value`` converted to UTC; naive datetimes are an error (we never guess a zone)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} given; use an aware UTC datetime")
    return value.astimezone(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        utc = as_utc(value)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw text from an aggregate on SQLite (e.g. max(col))
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# none_as_null: Python None is SQL NULL (not the JSON text 'null'), so "IS NULL" means "unset".
JsonType: TypeEngine[Any] = JSON(none_as_null=True).with_variant(
    JSONB(none_as_null=True), "postgresql"
)
