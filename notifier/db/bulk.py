"""Bulk subscriber loading (demo data, benchmarks, imports) at driver speed.

SQLAlchemy's per-row parameter handling costs more than SQLite's insert itself at a million
rows, so values are converted once per column with the column types' own bind processors
(each distinct value once) and handed to the driver in batches: ``executemany`` on SQLite,
``COPY`` on PostgreSQL. Loading into an empty table drops the non-unique secondary indexes
first and rebuilds them at the end (one sort instead of a million random B-tree inserts);
it all happens inside the caller's transaction, so a failure leaves the indexes in place.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import islice
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Index, func, insert, select
from sqlalchemy.exc import DBAPIError

from notifier.db.tables import subscriber_table
from notifier.db.types import as_utc
from notifier.privacy import mask_text

__all__ = ["BULK_BATCH", "bulk_insert_subscribers"]

BULK_BATCH = 50_000


def _batches(rows: Iterable[Mapping[str, Any]], size: int) -> Iterator[list[Mapping[str, Any]]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def _deferrable_indexes() -> list[Index]:
    return [i for i in subscriber_table.indexes if not i.unique]


def bulk_insert_subscribers(
    conn: Connection,
    rows: Iterable[Mapping[str, Any]],
    *,
    now: dt.datetime | None = None,
    defer_indexes: bool | None = None,
) -> int:
    """Insert many subscribers; returns how many.

    Rows are column mappings; ``created_at`` defaults to ``now`` and ``locale`` to "en".
    Nothing is geocoded or validated here: callers pass ready lat/lon. ``defer_indexes``
    (default: only when the table is empty) rebuilds non-unique indexes after the load.
    """
    stamp = as_utc(now) if now is not None else dt.datetime.now(dt.UTC)
    defaults = {"created_at": stamp, "locale": "en"}
    if defer_indexes is None:
        first = conn.execute(select(func.min(subscriber_table.c.id))).scalar()
        defer_indexes = first is None
    deferred = _deferrable_indexes() if defer_indexes else []
    total = 0
    with _gc_paused():
        for batch in _batches(rows, BULK_BATCH):
            if deferred and total == 0 and len(batch) == BULK_BATCH:
                for index in deferred:  # only worth it for a big load
                    index.drop(conn)
            elif total == 0:
                deferred = []
            total += _insert_batch(conn, batch, defaults)
        for index in deferred:
            index.create(conn)
    return total


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Millions of short-lived row tuples trigger the cyclic GC over and over (a third of
    the load time at a million rows); none of them form cycles, so pause it meanwhile."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _insert_batch(
    conn: Connection, batch: list[Mapping[str, Any]], defaults: Mapping[str, Any]
) -> int:
    wanted = set(defaults)
    for row in batch:
        wanted.update(row)
    unknown = wanted - set(subscriber_table.c.keys())
    if unknown:
        raise ValueError(f"unknown subscriber columns: {sorted(unknown)}")
    columns = [c for c in subscriber_table.c if c.key in wanted]
    keys = [c.key for c in columns]
    complete = [{**defaults, **row} for row in batch]
    try:  # the usual case: every row names the same columns (C-speed itemgetter)
        rows = list(map(itemgetter(*keys), complete))
    except KeyError:
        rows = [tuple(row.get(key) for key in keys) for row in complete]
    # Column-wise from here: convert each column once, then zip back into rows. (There are
    # always at least two keys, the defaults, so itemgetter returned tuples.)
    by_column: list[Sequence[Any]] = list(zip(*rows, strict=True))
    if conn.dialect.name == "postgresql":
        _copy_postgres(conn, columns, by_column)
    elif conn.dialect.name == "sqlite":
        _executemany(conn, columns, by_column)
    else:
        conn.execute(insert(subscriber_table), [dict(zip(keys, r, strict=True)) for r in rows])
    return len(rows)


def _convert(values: Sequence[Any], process: Callable[[Any], Any]) -> list[Any]:
    """``process`` each value; bulk rows repeat values (one created_at for all), so each
    distinct hashable value is converted once."""
    memo: dict[Any, Any] = {None: None}
    out = []
    for value in values:
        try:
            out.append(memo[value])
        except KeyError:
            memo[value] = converted = process(value)
            out.append(converted)
        except TypeError:  # unhashable: a JSON dict or list
            out.append(process(value))
    return out


def _executemany(conn: Connection, columns: list[Any], by_column: list[Sequence[Any]]) -> None:
    dialect = conn.dialect
    for index, column in enumerate(columns):
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            by_column[index] = _convert(by_column[index], process)
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(c.name) for c in columns)
    marks = ", ".join("?" for _ in columns)  # pysqlite's qmark paramstyle
    statement = f"INSERT INTO {quote(subscriber_table.name)} ({names}) VALUES ({marks})"
    conn.exec_driver_sql(statement, list(zip(*by_column, strict=True)))


def _copy_postgres(conn: Connection, columns: list[Any], by_column: list[Sequence[Any]]) -> None:
    import psycopg
    from psycopg.types.json import Jsonb

    for index, column in enumerate(columns):
        if column.key == "filters":
            by_column[index] = _convert(by_column[index], Jsonb)
        elif column.type.python_type is dt.datetime:
            by_column[index] = _convert(by_column[index], as_utc)
    names = ", ".join(c.name for c in columns)
    statement = f"COPY {subscriber_table.name} ({names}) FROM STDIN"
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(statement) as copy:
            for row in zip(*by_column, strict=True):
                copy.write_row(row)
    except psycopg.Error as error:
        # Same exception classes as the SQLAlchemy path (IntegrityError, ...), but without
        # the server's DETAIL line, which quotes the offending phone number or email.
        masked = type(error)(mask_text(str(error)))
        raise DBAPIError.instance(
            statement, None, masked, psycopg.Error, hide_parameters=True
        ) from None
