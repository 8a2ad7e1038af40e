"""Fan-out benchmark: a million subscribers, one alert matching about 100,000 of them.

    python bench/bench_fanout.py                        # SQLite file in a temp dir
    python bench/bench_fanout.py --url postgresql://postgres@127.0.0.1:5432/bench_fanout
    python bench/bench_fanout.py --subscribers 200000 --explain

Measures: bulk subscriber insert (``bulk_insert_subscribers``), ``write_alert`` (matching,
ranking and the INSERT ... SELECT of every delivery, in one transaction), then a few outbox
operations.
Issue target: ``write_alert`` for ~100k recipients in <= 2 s on SQLite.

Subscribers are spread uniformly over a square around the clinic with radii of 10/25/40 miles;
10% want only a product the alert does not have, 2% are unconfirmed and 1% opted out.
The PostgreSQL database in ``--url`` is created if missing and dropped afterwards.
"process CPU" is this process only (it includes SQLite's work, not PostgreSQL's server); on
a shared machine it is steadier than wall time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from notifier.db.engine import make_engine, upgrade
from notifier.db.fanout import (
    ChannelPlan,
    claim_due,
    expire_due,
    explain_recipients,
    mark_sent,
    release_open_episode,
    write_alert,
)
from notifier.db.subscribers import bulk_insert_subscribers
from notifier.db.tables import delivery_table
from notifier.model import Alert, Location

CENTER = (42.3736, -71.1097)
NOW = dt.datetime(2024, 3, 1, 15, 0, tzinfo=dt.UTC)
RADII = (10.0, 25.0, 40.0)


class Timer:
    """Wall time and this process's CPU time of a ``with`` block."""

    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        self.wall = self.cpu = 0.0
        return self

    def wall_now(self) -> float:
        return time.perf_counter() - self._wall

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu

    def __str__(self) -> str:
        return f"{self.wall:7.3f} s wall, {self.cpu:7.3f} s process CPU"


def subscriber_rows(count: int, side_miles: float, seed: int = 7) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    lat0, lon0 = CENTER
    miles_per_lon = 69.093 * math.cos(math.radians(lat0))
    confirmed = NOW - dt.timedelta(days=3)
    for i in range(count):
        roll = rng.random()
        yield {
            "channel": "sms",
            "address": f"+1{2000000000 + i}",
            "lat": lat0 + (rng.random() - 0.5) * side_miles / 69.093,
            "lon": lon0 + (rng.random() - 0.5) * side_miles / miles_per_lon,
            "radius_miles": RADII[i % 3],
            "confirmed_at": None if roll < 0.02 else confirmed,
            "opted_out_at": confirmed if 0.02 <= roll < 0.03 else None,
            "filters": {"products": ["pfizer"]} if 0.03 <= roll < 0.13 else None,
            "max_per_day": 3 if i % 10 == 0 else None,
        }


def side_for(target_fraction: float) -> float:
    """Square side so that about ``target_fraction`` of all subscribers match."""
    mean_area = sum(math.pi * r * r for r in RADII) / len(RADII)
    eligible = 0.87
    return math.sqrt(mean_area * eligible / target_fraction)


def make_alert(appointments: int) -> Alert:
    location = Location(
        id="bench-clinic",
        name="Bench Clinic",
        city="Cambridge",
        state="MA",
        postal_code="02139",
        lat=CENTER[0],
        lon=CENTER[1],
        booking_url="https://clinic.example/book",
    )
    return Alert(
        provider_id="bench",
        location=location,
        kind="opened",
        appointments=appointments,
        increase=appointments,
        by_date={dt.date(2024, 3, 2): appointments},
        products=("moderna",),
        age_groups=(),
        detected_at=NOW,
        expires_at=NOW + dt.timedelta(hours=1),
    )


def _prepare_postgres(url: str) -> None:
    parsed = make_url(url).set(drivername="postgresql+psycopg")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def _drop_postgres(url: str) -> None:
    parsed = make_url(url).set(drivername="postgresql+psycopg")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


def run(url: str, subscribers: int, fraction: float, appointments: int, explain: bool) -> None:
    is_pg = url.startswith("postgres")
    if is_pg:
        _prepare_postgres(url)
    engine = make_engine(url)
    upgrade(engine)
    side = side_for(fraction)

    with Timer() as took, engine.begin() as conn:
        bulk_insert_subscribers(conn, subscriber_rows(subscribers, side), now=NOW)
    print(
        f"bulk insert      {subscribers:>9,} subscribers   {took}"
        f"  {subscribers / took.wall:,.0f} rows/s"
    )
    if is_pg:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")

    alert = make_alert(appointments)
    plan = ChannelPlan("sms", "recipient", wave_multiple=3.0)
    if explain:
        with engine.connect() as conn:
            for line in explain_recipients(conn, alert, plan, regions=["MA"], now=NOW):
                print("   plan:", line)

    with Timer() as took, engine.begin() as conn:
        result = write_alert(conn, alert, channels=[plan, ChannelPlan("x", "broadcast")])
        planned = took.wall_now()
    sms = result.channels["sms"]
    print(
        f"write_alert      {sms.matched:>9,} deliveries    {took}  (before commit {planned:.2f} s)"
    )
    print(
        f"                 first wave {sms.first_wave:,}, held {sms.held:,}, "
        f"wave size {sms.wave_size}"
    )

    with engine.begin() as conn:
        counted = conn.execute(select(func.count()).select_from(delivery_table)).scalar_one()
    print(f"outbox rows      {counted:>9,}")

    with Timer() as took, engine.begin() as conn:
        claimed = claim_due(conn, "sms", limit=500, now=NOW, lease_seconds=60)
    print(f"claim_due        {len(claimed):>9,} claimed       {took}")
    with engine.begin() as conn:
        mark_sent(conn, [c.id for c in claimed], "SM-bench", NOW)  # wave 1 handed off
    later = NOW + dt.timedelta(seconds=plan.wave_grace_seconds)
    with Timer() as took, engine.begin() as conn:
        released = release_open_episode(conn, "bench:bench-clinic", appointments, [plan], later)
    print(f"release (wave 2) {released:>9,} released      {took}")
    with Timer() as took, engine.begin() as conn:
        expired = expire_due(conn, NOW + dt.timedelta(hours=2))
    print(f"expire_due       {expired:>9,} expired       {took}")
    engine.dispose()
    if is_pg:
        _drop_postgres(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--fraction", type=float, default=0.1, help="share that should match")
    parser.add_argument("--appointments", type=int, default=50)
    parser.add_argument("--explain", action="store_true", help="print the query plan")
    args = parser.parse_args()
    if args.url:
        run(args.url, args.subscribers, args.fraction, args.appointments, args.explain)
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        run(url, args.subscribers, args.fraction, args.appointments, args.explain)


if __name__ == "__main__":
    main()
