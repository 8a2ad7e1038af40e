"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from notifier.db.engine import alembic_config, make_engine, upgrade
from notifier.db.queue_schema import ours
from notifier.db.tables import Location, location_table, metadata
from notifier.db.types import as_utc


def _drift(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": ours}
        )
        return list(compare_metadata(context, metadata))


def test_migrated_schema_matches_models(engine: Engine) -> None:
    assert _drift(engine) == []
    tables = set(inspect(engine).get_table_names())
    assert {t.name for t in metadata.sorted_tables} <= tables


def test_migration_creates_required_indexes(engine: Engine) -> None:
    inspector = inspect(engine)
    delivery = {i["name"]: i["column_names"] for i in inspector.get_indexes("delivery")}
    assert delivery["ix_delivery_channel_state_next"][:3] == ["channel", "state", "next_attempt_at"]
    subscriber = {i["name"]: i["column_names"] for i in inspector.get_indexes("subscriber")}
    assert subscriber["ix_subscriber_reach"][:3] == ["channel", "lat", "lon"]
    uniques = inspector.get_unique_constraints("subscriber")
    assert ["channel", "address"] in [u["column_names"] for u in uniques]


def test_downgrade_and_upgrade_again_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/round.db"
    upgrade(url)
    engine = make_engine(url)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert "delivery" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert _drift(engine) == []
    engine.dispose()


@pytest.mark.postgres
def test_downgrade_and_upgrade_again_on_postgres(pg_engine: Engine) -> None:
    config = alembic_config()
    with pg_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert "delivery" not in inspect(pg_engine).get_table_names()
    upgrade(pg_engine)
    assert _drift(pg_engine) == []


def test_sqlite_engine_settings(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "dir" / "x.db"
    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("SELECT round(asin(1) * 2, 6)").scalar() == 3.141593
    assert db.parent.is_dir()
    engine.dispose()


def test_postgres_url_uses_psycopg3() -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:5432/nothing")
    assert engine.url.drivername == "postgresql+psycopg"
    engine.dispose()


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO availability (location_id, provider_id, status, by_date, products,"
                " age_groups, checked_at, changed_at, content_hash)"
                " VALUES ('nope', 'p', 'none', '{}', '[]', '[]', :t, :t, 'h')"
            ),
            {"t": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)},
        )


def test_times_round_trip_as_aware_utc(engine: Engine) -> None:
    berlin = dt.timezone(dt.timedelta(hours=1))
    seen = dt.datetime(2024, 3, 1, 13, 30, tzinfo=berlin)
    with engine.begin() as conn:
        conn.execute(
            location_table.insert().values(
                id="p:1",
                provider_id="p",
                source_id="1",
                name="n",
                first_seen_at=seen,
                updated_at=seen,
            )
        )
        stored = conn.execute(location_table.select()).mappings().one()
    assert stored["first_seen_at"] == seen
    assert stored["first_seen_at"].utcoffset() == dt.timedelta(0)
    with pytest.raises(ValueError, match="naive"):
        as_utc(dt.datetime(2024, 1, 1))
    assert Location.__tablename__ == "location"


def test_plain_alembic_cli_upgrades(tmp_path: Path) -> None:
    ini = Path(__file__).resolve().parents[2] / "notifier" / "db" / "alembic.ini"
    url = f"sqlite:///{tmp_path}/cli.db"
    env = {**os.environ, "NOTIFIER_DATABASE_URL": url}
    alembic = [sys.executable, "-m", "alembic", "-c", str(ini), "upgrade", "head"]
    subprocess.run(alembic, check=True, env=env, capture_output=True, cwd=tmp_path)
    engine = make_engine(url)
    assert _drift(engine) == []
    engine.dispose()


def test_outbox_indexes_are_partial_and_used_on_sqlite(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        sql = dict(
            conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'index'").all()
        )
        assert "WHERE next_attempt_at IS NOT NULL" in sql["ix_delivery_channel_state_next"]
        assert "WHERE next_attempt_at IS NOT NULL" in sql["ix_delivery_subscriber_created"]
        claim = (
            "EXPLAIN QUERY PLAN SELECT id FROM delivery WHERE channel = 'sms' AND"
            " state = 'pending' AND next_attempt_at <= '2024' ORDER BY next_attempt_at, id"
        )
        plan = " ".join(str(row) for row in conn.exec_driver_sql(claim))
        assert "ix_delivery_channel_state_next" in plan and "TEMP B-TREE" not in plan
        cap = (
            "EXPLAIN QUERY PLAN SELECT count(*) FROM delivery WHERE subscriber_id = 1"
            " AND next_attempt_at IS NOT NULL AND created_at >= '2024'"
        )
        assert "ix_delivery_subscriber_created" in " ".join(
            str(row) for row in conn.exec_driver_sql(cap)
        )


@pytest.mark.postgres
def test_outbox_indexes_are_partial_on_postgres(pg_engine: Engine) -> None:
    with pg_engine.connect() as conn:
        rows = conn.execute(
            text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'delivery'")
        ).all()
    defs = dict(rows)
    assert "WHERE (next_attempt_at IS NOT NULL)" in defs["ix_delivery_channel_state_next"]
    assert "WHERE (provider_message_id IS NOT NULL)" in defs["ix_delivery_provider_message"]


def test_write_transaction_takes_the_sqlite_write_lock_up_front(sqlite_engine: Engine) -> None:
    from notifier.db.engine import write_transaction

    with write_transaction(sqlite_engine) as conn:
        conn.execute(text("SELECT 1"))
        other = sqlite3_connect_nowait(sqlite_engine)
        with pytest.raises(Exception, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
    with sqlite_engine.connect() as conn:
        assert "sqlite_begin_immediate" not in conn.info


def sqlite3_connect_nowait(engine: Engine):  # type: ignore[no-untyped-def]
    import sqlite3

    return sqlite3.connect(engine.url.database, timeout=0, isolation_level=None)


def test_python_math_fallback_matches(
    tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite builds without math functions get Python ones; fan-out still works."""
    import shutil

    from notifier.db import engine as engine_module
    from notifier.db.fanout import ChannelPlan, write_alert
    from tests.db.db_support import CAMBRIDGE, add_sub, make_alert, offset

    monkeypatch.setattr(engine_module, "_sqlite_has_math", lambda _conn: False)
    path = tmp_path / "fallback.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        near = add_sub(conn, *offset(*CAMBRIDGE, north_miles=3), radius=5)
        add_sub(conn, *offset(*CAMBRIDGE, north_miles=8), radius=5)
        result = write_alert(conn, make_alert(), channels=[ChannelPlan("sms", "recipient")])
        rows = conn.execute(text("SELECT subscriber_id, distance_miles FROM delivery")).all()
    engine.dispose()
    assert result.matched == 1 and rows[0][0] == near
    assert rows[0][1] == pytest.approx(3.0, abs=0.01)
