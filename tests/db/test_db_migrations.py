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
from notifier.db.models import Location, location_table, metadata
from notifier.db.types import as_utc


def _drift(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
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
    assert subscriber["ix_subscriber_lat_lon"] == ["lat", "lon"]
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
