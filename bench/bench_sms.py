"""SMS throughput through the real ``twilio`` library against the stub Twilio API.

    python bench/bench_sms.py                 # both runs, default sizes
    python bench/bench_sms.py --messages 5000 --limited-messages 2000

1. Unlimited: ``--workers`` concurrent senders push ``--messages`` texts through
   ``SmsChannel.send`` (twilio ``Client.messages.create_async`` over aiohttp). Target: at least
   1,000 SMS/s on 2 cores.
2. Limited: ``messages_per_second=100`` (a short code); every send first takes a token from the
   dispatcher's pyrate-limiter bucket (``notifier.pipeline.dispatch.make_limiter``, in memory).
   The stub
   enforces the same limit with its own token bucket and answers 429/20429 above it. Target: the
   measured rate within 2% of 100/s, and no 429.

The stub runs in its own process (``python -m notifier.testing.twilio_stub``) so client and
server do not share one interpreter lock; on a busy machine the figures vary by a few percent.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import datetime as dt
import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable

from channels.sms import SmsChannel
from notifier.channel import Message, Recipient
from notifier.model import Alert, Location
from notifier.pipeline.dispatch import make_limiter
from notifier.testing.twilio_stub import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

NOW = dt.datetime(2021, 2, 24, 15, 0, tzinfo=dt.UTC)


def start_stub(*extra: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "notifier.testing.twilio_stub", *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("READY "):
        process.kill()
        raise SystemExit(f"stub did not start: {line!r}")
    return process, line.split(" ", 1)[1]


def stub_stats(url: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{url}/_stub/stats", timeout=5) as response:
        return dict(json.load(response))


def channel_for(url: str, messages_per_second: float, connections: int) -> SmsChannel:
    return SmsChannel(
        {
            "account_sid": DEFAULT_ACCOUNT_SID,
            "auth_token": DEFAULT_AUTH_TOKEN,
            "from_number": "+16175550000",
            "base_url": "https://alerts.example.org",
            "api_base_url": url,
            "messages_per_second": messages_per_second,
            "max_connections": connections,
            "timeout": 10,
        }
    )


def messages(channel: SmsChannel, count: int) -> list[Message]:
    alert = Alert(
        provider_id="prepmod",
        location=Location(id="fenway", name="Fenway Park", city="Boston"),
        kind="opened",
        appointments=1234,
        increase=1234,
        by_date={dt.date(2021, 2, 25): 1000, dt.date(2021, 2, 27): 234},
        products=("Moderna",),
        age_groups=("65+",),
        detected_at=NOW,
        expires_at=NOW + dt.timedelta(hours=1),
        id=42,
    )
    # Test numbers in the 555-01xx fiction range, one per subscriber.
    return [
        channel.compose([alert], Recipient(i, f"+1617555{i % 10_000:04d}")) for i in range(count)
    ]


async def run(
    channel: SmsChannel,
    batch: list[Message],
    workers: int,
    before_send: Callable[[], Awaitable[object]] | None = None,
) -> tuple[float, list[float], Counter[str]]:
    """Send ``batch`` with ``workers`` tasks; returns elapsed seconds, send stamps, outcomes."""
    queue = list(reversed(batch))
    stamps: list[float] = []
    outcomes: Counter[str] = Counter()

    async def worker() -> None:
        while queue:
            message = queue.pop()
            if before_send is not None:
                await before_send()
            stamps.append(time.perf_counter())
            result = await channel.send(message)
            outcomes["sent" if result.ok else (result.error or "failed")[:60]] += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return time.perf_counter() - start, sorted(stamps), outcomes


async def unlimited(count: int, workers: int) -> bool:
    process, url = start_stub()
    channel = channel_for(url, 1_000_000, workers)
    try:
        await run(channel, messages(channel, 200), workers)  # warm up connections
        batch = messages(channel, count)
        before, cpu_start = stub_stats(url), time.process_time()
        elapsed, _, outcomes = await run(channel, batch, workers)
        client_cpu = time.process_time() - cpu_start
        stats = stub_stats(url)
    finally:
        await channel.aclose()
        process.terminate()
        process.wait()
    rate = count / elapsed
    stub_cpu = float(stats["cpu_seconds"]) - float(before["cpu_seconds"])  # type: ignore[arg-type]
    print(f"unlimited: {count} SMS in {elapsed:.2f}s = {rate:,.0f} SMS/s ({workers} workers)")
    # CPU per message tells what the code costs regardless of what else the machine runs.
    print(
        f"  CPU per SMS: client {client_cpu / count * 1e6:.0f} us "
        f"({count / client_cpu:,.0f} SMS per client CPU-second), "
        f"stub {stub_cpu / count * 1e6:.0f} us"
    )
    print(f"  outcomes {dict(outcomes)}; stub saw {stats}")
    return rate >= 1000 and outcomes["sent"] == count


async def limited(count: int, workers: int, per_second: float, burst: int) -> bool:
    process, url = start_stub("--max-per-second", f"{per_second:g}", "--burst", str(burst))
    channel = channel_for(url, per_second, workers)
    limiter = make_limiter(channel.rate_limit)

    async def take_token() -> object:
        return await limiter.try_acquire_async("sms")

    try:
        _, stamps, outcomes = await run(channel, messages(channel, count), workers, take_token)
        stats = stub_stats(url)
    finally:
        await channel.aclose()
        process.terminate()
        process.wait()
    # The rate between the first and the last send: (n - 1) intervals.
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    worst_second = max(bisect.bisect_left(stamps, s + 1.0) - i for i, s in enumerate(stamps))
    worst_tenth = max(bisect.bisect_left(stamps, s + 0.1) - i for i, s in enumerate(stamps))
    error = abs(rate - per_second) / per_second
    by_status = stats.get("by_status", {})
    too_many = by_status.get("429", 0) if isinstance(by_status, dict) else 0
    print(
        f"limited to {per_second:g}/s ({channel.rate_limit}): {count} SMS, measured "
        f"{rate:.2f}/s ({error:.2%} off), busiest 1 s / 0.1 s window {worst_second} / "
        f"{worst_tenth}, 429s: {too_many}"
    )
    print(f"  outcomes {dict(outcomes)}; stub saw {stats}")
    return error <= 0.02 and too_many == 0 and outcomes["sent"] == count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--limited-messages", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100.0)
    # The client's bucket refills 10 tokens per 0.1 s step, so two steps can meet within a
    # few milliseconds: the stub tolerates 0.2 s worth (20) before it answers 429.
    parser.add_argument("--stub-burst", type=int, default=20)
    parser.add_argument("--skip-limited", action="store_true")
    args = parser.parse_args()
    ok = asyncio.run(unlimited(args.messages, args.workers))
    if not args.skip_limited:
        ok = asyncio.run(limited(args.limited_messages, 16, args.rate, args.stub_burst)) and ok
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
