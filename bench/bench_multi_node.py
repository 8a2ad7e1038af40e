"""Multi-node benchmark: fan-out throughput of one worker process against three, one database.

    python bench/bench_multi_node.py                       # 3,000 recipients, 1 vs 3 workers
    python bench/bench_multi_node.py --subscribers 10000 --workers 1 3 6
    python bench/bench_multi_node.py --quick --json        # 300 recipients; the suite's lines

For each worker count: a throwaway PostgreSQL database on 127.0.0.1:5432, real
``notifier worker`` processes (``notifier.testing.cluster_worker``), two PrepMod simulators
polled every second and the Twilio stub. After the baseline polls one release opens a clinic
that every subscriber wants; the fan-out's throughput is recipients divided by the time from
the first to the last message the stub received. The SMS rate limit is set far above what the
machine can send, so it measures the workers, not the limit.

It also reports the polls: how many ticks handed out a poll per provider, and the most poll
jobs any (provider, tick) got, which must be 1. Goals: no duplicates, one poll per
(provider, tick); messages/s and the speed-up over the first worker count are reported as they
are (on two shared cores, three processes cannot triple it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, func, select, text

from notifier.bench._scripts import add_suite_options, print_json_lines
from notifier.bench.registry import Result as Figure
from notifier.db.bulk import bulk_insert_subscribers
from notifier.db.engine import make_engine, upgrade
from notifier.db.tables import DeliveryState, delivery_table, provider_state_table
from notifier.pipeline.engine_procrastinate import POLL_TASK
from notifier.testing.cluster import ClusterSpec, start_worker, stop_workers, throwaway_database
from notifier.testing.simulator import ProviderSimulator
from notifier.testing.twilio_stub import TwilioStub

CLINIC_DATE = dt.date.today() + dt.timedelta(days=1)
PROVIDERS = ("ma-prepmod", "nh-prepmod")
NAME = "multi-node"
QUICK_SUBSCRIBERS = 300


@dataclass(frozen=True)
class Result:
    workers: int
    recipients: int
    seconds: float
    duplicates: int
    ticks: int
    polls_per_provider: dict[str, int]
    most_polls_in_a_tick: int

    @property
    def per_second(self) -> float:
        return self.recipients / self.seconds if self.seconds else float("nan")


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.1)


def add_subscribers(engine: Engine, count: int) -> None:
    signed_up = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    rows = [
        {
            "channel": "sms",
            "address": f"+1617{n:07d}",
            "region": "MA",
            "lat": 42.35,
            "lon": -71.06,
            "time_zone": "America/New_York",
            "confirmed_at": signed_up,
        }
        for n in range(2_000_000, 2_000_000 + count)
    ]
    with engine.begin() as conn:
        bulk_insert_subscribers(conn, rows, now=signed_up)


def sent(engine: Engine) -> int:
    d = delivery_table
    with engine.connect() as conn:
        query = select(func.count()).where(d.c.state == DeliveryState.SENT.value)
        return int(conn.execute(query).scalar_one())


def baselines(engine: Engine) -> int:
    t = provider_state_table
    with engine.connect() as conn:
        query = select(func.count()).where(t.c.baseline_at.is_not(None))
        return int(conn.execute(query).scalar_one())


def poll_ticks(engine: Engine) -> Counter[tuple[str, int]]:
    query = text(
        "SELECT args->>'provider_id', (args->>'tick')::bigint FROM procrastinate_jobs"
        " WHERE task_name = :task"
    )
    with engine.connect() as conn:
        return Counter((p, t) for p, t in conn.execute(query, {"task": POLL_TASK}))


def run(workers: int, recipients: int, workdir: Path) -> Result:
    with throwaway_database() as url:
        upgrade(url)
        engine = make_engine(url)
        add_subscribers(engine, recipients)
        ma = ProviderSimulator(quiet=True, first_clinic_date=CLINIC_DATE)
        nh = ProviderSimulator(quiet=True, first_clinic_date=CLINIC_DATE)
        with ma, nh, TwilioStub() as stub:
            for sim in (ma, nh):
                sim.release(40, sites=("gillette-stadium",), fill_seconds=10_000)
            spec = ClusterSpec(
                database_url=url,
                providers={"ma-prepmod": ma.base_url, "nh-prepmod": nh.base_url},
                twilio_url=stub.url,
                workdir=str(workdir),
                sms_per_window=100_000,
                sms_window_seconds=1.0,
                send_batch=500,
                dispatch_batch=200,
                lease_seconds=120.0,
            )
            spec_path = spec.save(workdir / f"spec-{workers}.json")
            procs = [start_worker(spec_path, f"w{n}", workdir) for n in range(workers)]
            try:
                wait_for(lambda: baselines(engine) == len(PROVIDERS), "the baseline polls")
                ma.release(50_000, sites=("fenway-park",), fill_seconds=10_000)
                wait_for(lambda: sent(engine) >= recipients, "the fan-out")
            finally:
                stop_workers(procs)
            arrivals = sorted(r.at for r in stub.requests if r.status == 201)
            duplicates = len(arrivals) - len({r.to for r in stub.requests if r.status == 201})
        ticks = poll_ticks(engine)
        engine.dispose()
    return Result(
        workers=workers,
        recipients=recipients,
        seconds=arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0,
        duplicates=duplicates,
        ticks=len({t for _p, t in ticks}),
        polls_per_provider={p: sum(1 for q, _t in ticks if q == p) for p in PROVIDERS},
        most_polls_in_a_tick=max(ticks.values(), default=0),
    )


def figures(results: list[Result]) -> Iterator[Figure]:
    """Each worker count's figures, as ``notifier bench --json`` lines."""
    base = results[0].per_second
    for r in results:
        w = f"{r.workers}_workers"
        note = f"{r.recipients:,} recipients in {r.seconds:.2f} s"
        yield Figure(NAME, f"messages_per_second_{w}", r.per_second, "SMS/s", None, True, note)
        if r is not results[0]:
            note = f"messages/s over those of {results[0].workers} worker(s)"
            yield Figure(NAME, f"speedup_{w}", r.per_second / base, "x", None, True, note)
        yield Figure(NAME, f"duplicates_{w}", float(r.duplicates), "SMS", "0", r.duplicates == 0)
        polls = "/".join(str(n) for n in r.polls_per_provider.values())
        note = f"{r.ticks} ticks, polls per provider {polls}"
        most = r.most_polls_in_a_tick
        yield Figure(NAME, f"most_polls_in_a_tick_{w}", float(most), "polls", "1", most == 1, note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, help="default 3,000")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 3])
    add_suite_options(parser, f"{QUICK_SUBSCRIBERS:,} recipients unless --subscribers")
    args = parser.parse_args()
    args.subscribers = args.subscribers or (QUICK_SUBSCRIBERS if args.quick else 3000)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for count in args.workers:
            workdir = Path(tmp) / f"workers-{count}"
            workdir.mkdir()
            results.append(run(count, args.subscribers, workdir))
    if args.json:
        print_json_lines(figures(results))
        return
    base = results[0].per_second
    print(f"fan-out of {args.subscribers:,} SMS recipients (Twilio stub), one PostgreSQL")
    print("workers  seconds  messages/s  vs first  duplicates  ticks  polls/provider  max/tick")
    for r in results:
        polls = "/".join(str(n) for n in r.polls_per_provider.values())
        ratio = r.per_second / base
        print(
            f"{r.workers:>7}  {r.seconds:>7.2f}  {r.per_second:>10.0f}  {ratio:>7.2f}x"
            f"  {r.duplicates:>10}  {r.ticks:>5}  {polls:>14}  {r.most_polls_in_a_tick:>8}"
        )


if __name__ == "__main__":
    main()
