"""All SQL of the project lives under notifier/db/: a scan of the source tree proves it.

Outside ``notifier/db`` code may hold an ``Engine`` or a ``Connection`` and catch SQLAlchemy's
errors, but it may not build statements (select, insert, update, delete, text, func, ...), run
them (``.execute``), or reach for the table objects.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("notifier", "scrapers", "channels")
DB_PACKAGE = ROOT / "notifier" / "db"

#: what may be imported from sqlalchemy outside notifier/db: handles and errors, no statements
ALLOWED_SQLALCHEMY_NAMES = frozenset({"Connection", "Engine", "make_url"})
ALLOWED_SQLALCHEMY_MODULES = frozenset({"sqlalchemy", "sqlalchemy.engine", "sqlalchemy.exc"})
SQL_CONSTRUCTS = frozenset(
    {
        "select",
        "insert",
        "update",
        "delete",
        "text",
        "func",
        "case",
        "and_",
        "or_",
        "literal",
        "literal_column",
        "exists",
        "inspect",
        "table",
        "column",
    }
)
EXECUTING_METHODS = frozenset({"execute", "exec_driver_sql", "scalars", "scalar"})


def sql_outside_db(path: Path) -> list[str]:
    """``file:line: what`` for every piece of SQL in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = path.relative_to(ROOT) if ROOT in path.parents else path
    found: list[str] = []
    sqlalchemy_aliases: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            module = node.module
            if module == "sqlalchemy" or module.startswith("sqlalchemy."):
                for alias in node.names:
                    if alias.name == "SQLAlchemyError" or module == "sqlalchemy.exc":
                        continue
                    if module not in ALLOWED_SQLALCHEMY_MODULES or (
                        alias.name not in ALLOWED_SQLALCHEMY_NAMES
                    ):
                        found.append(f"{where}:{node.lineno}: imports {module}.{alias.name}")
            if module == "notifier.db.tables":
                for alias in node.names:
                    if alias.name.endswith("_table"):
                        found.append(f"{where}:{node.lineno}: uses table {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "sqlalchemy" or alias.name.startswith("sqlalchemy."):
                    sqlalchemy_aliases.add(alias.asname or alias.name.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"execute", "exec_driver_sql"}
        ):
            found.append(f"{where}:{node.lineno}: runs .{node.func.attr}(...)")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in sqlalchemy_aliases
            and node.attr in SQL_CONSTRUCTS
        ):
            found.append(f"{where}:{node.lineno}: builds {node.value.id}.{node.attr}")
    return found


def source_files() -> list[Path]:
    files = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if DB_PACKAGE not in path.parents:
                files.append(path)
    return files


def test_no_sql_outside_notifier_db() -> None:
    files = source_files()
    assert len(files) > 50  # the scan really covers the tree
    problems = [problem for path in files for problem in sql_outside_db(path)]
    assert problems == [], "SQL outside notifier/db/ (move it into a named db function):\n" + (
        "\n".join(problems)
    )


def test_the_scan_finds_each_kind_of_sql(tmp_path: Path) -> None:
    # The detector itself must catch what it promises to catch.
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import sqlalchemy as sa\n"
        "from sqlalchemy import select, Engine\n"
        "from notifier.db.tables import alert_table\n"
        "def f(conn):\n"
        "    conn.execute(sa.text('SELECT 1'))\n",
        encoding="utf-8",
    )
    joined = "\n".join(sql_outside_db(sample))
    assert ":2: imports sqlalchemy.select" in joined
    assert "Engine" not in joined
    assert ":3: uses table alert_table" in joined
    assert ":5: runs .execute(...)" in joined
    assert ":5: builds sa.text" in joined
