"""Small dialect helpers shared by the storage modules (SQLite and PostgreSQL only)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable

__all__ = ["chunks", "dialect_insert", "explain", "is_postgres"]

T = TypeVar("T")

# Stay well below SQLite's bound-parameter limit (32766) and PostgreSQL's (65535).
IN_CHUNK = 5000


def is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def dialect_insert(conn: Connection, table: Table) -> Any:
    """An INSERT that supports ``on_conflict_do_update`` / ``_do_nothing`` on this dialect."""
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database dialect {name!r} (use SQLite or PostgreSQL)")


def chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Explain(Executable, ClauseElement):
    """``EXPLAIN`` in front of a statement, its parameters bound as for the statement itself."""

    inherit_cache = False

    def __init__(self, statement: Any) -> None:
        self.statement = statement


@compiles(_Explain)
def _compile_explain(element: _Explain, compiler: SQLCompiler, **kw: Any) -> str:
    prefix = "EXPLAIN QUERY PLAN " if compiler.dialect.name == "sqlite" else "EXPLAIN "
    return prefix + compiler.process(element.statement, **kw)


def explain(conn: Connection, statement: Any) -> list[str]:
    """The database's plan for ``statement``, a line per step (SQLite: its detail column)."""
    rows = conn.execute(_Explain(statement)).all()
    if conn.dialect.name == "sqlite":
        return [str(row[-1]) for row in rows]
    return [str(row[0]) for row in rows]
