"""Email throughput: the real channel (aiosmtplib) against a real aiosmtpd server on loopback.

    python bench/bench_email.py                      # both runs, default sizes
    python bench/bench_email.py --messages 5000 --tls starttls

1. Unlimited: ``--workers`` concurrent senders each compose an alert email (Jinja2 text + HTML,
   signed unsubscribe link) and send it through ``EmailChannel.send`` (MIME build, pooled SMTP
   connection: MAIL, RCPT, DATA). Target: at least 500 emails/s on 2 cores, every one accepted,
   and the server seeing no more connections than the pool holds (connections are reused).
2. Limited: ``messages_per_second=100``; every send first takes a token from the dispatcher's
   bucket (``notifier.pipeline.dispatch.make_limiter``). Target: the measured rate within 2% of
   100/s.

The server runs in its own process (``python -m notifier.testing.smtp_server``) so client and
server do not share one interpreter lock; on a busy machine the figures vary by a few percent.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from channels.email import EmailChannel
from notifier.channel import Recipient
from notifier.model import Alert, Location
from notifier.pipeline.dispatch import make_limiter

NOW = dt.datetime(2021, 2, 24, 15, 0, tzinfo=dt.UTC)
AUTH = ("alerts", "bench-password")


class Server:
    """``python -m notifier.testing.smtp_server`` in a child process."""

    def __init__(self, tls: str) -> None:
        command = [sys.executable, "-m", "notifier.testing.smtp_server", "--tls", tls]
        if tls != "none":
            command += ["--auth", ":".join(AUTH)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        if not line or line[0] != "READY":
            self.process.kill()
            raise SystemExit(f"SMTP server did not start: {line!r}")
        self.host, self.port = line[1], int(line[2])
        self.cert = line[3] if len(line) > 3 else None

    def stop(self) -> dict[str, float]:
        """Close the server's stdin; it answers with its counts and exits."""
        out, _ = self.process.communicate(input="", timeout=30)
        for line in out.splitlines():
            if line.startswith("STATS "):
                return dict(json.loads(line[6:]))
        return {}


def channel_for(server: Server, tls: str, per_second: float, pool: int) -> EmailChannel:
    settings: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "security": tls,
        "from_address": "Vaccine Alerts <alerts@alerts.example.org>",
        "base_url": "https://alerts.example.org",
        "secret": "bench-signing-secret-0123456789",
        "messages_per_second": per_second,
        "pool_size": pool,
        "timeout": 10,
    }
    if tls != "none":
        settings.update(username=AUTH[0], password=AUTH[1], ca_file=server.cert)
    return EmailChannel(settings)


ALERT = Alert(
    provider_id="prepmod",
    location=Location(
        id="fenway",
        name="Fenway Park",
        address="4 Jersey St",
        city="Boston",
        state="MA",
        postal_code="02215",
        booking_url="https://book.example.org/clinic/fenway",
    ),
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
LOCALES = ("en", "de", "es")


async def run(
    channel: EmailChannel,
    count: int,
    workers: int,
    before_send: Callable[[], Awaitable[object]] | None = None,
) -> tuple[float, list[float], Counter[str]]:
    """Compose and send ``count`` emails with ``workers`` tasks."""
    numbers = list(range(count, 0, -1))
    stamps: list[float] = []
    outcomes: Counter[str] = Counter()

    async def worker() -> None:
        while numbers:
            n = numbers.pop()
            # example.org addresses (RFC 2606), one per subscriber
            recipient = Recipient(n, f"person{n}@example.org", locale=LOCALES[n % 3])
            message = channel.compose([ALERT], recipient)
            if before_send is not None:
                await before_send()
            stamps.append(time.perf_counter())
            result = await channel.send(message)
            outcomes["sent" if result.ok else (result.error or "failed")[:60]] += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return time.perf_counter() - start, sorted(stamps), outcomes


async def unlimited(count: int, workers: int, pool: int, tls: str) -> bool:
    server = Server(tls)
    channel = channel_for(server, tls, 1_000_000, pool)
    try:
        await run(channel, 200, workers)  # warm up: connections, templates
        cpu_start = time.process_time()
        elapsed, _, outcomes = await run(channel, count, workers)
        client_cpu = time.process_time() - cpu_start
        opened = channel.pool.opened
        await channel.aclose()
    finally:
        stats = server.stop()
    rate = count / elapsed
    print(
        f"unlimited ({tls}): {count} emails in {elapsed:.2f}s = {rate:,.0f} emails/s "
        f"({workers} senders, pool of {pool})"
    )
    print(
        f"  client CPU per email {client_cpu / count * 1e6:.0f} us "
        f"({count / client_cpu:,.0f} emails per client CPU-second, compose + MIME + SMTP)"
    )
    served = stats.get("messages", 0) or 1
    server_cpu = stats.get("cpu_seconds", 0.0) / served * 1e6
    print(f"  server CPU per email {server_cpu:.0f} us (aiosmtpd, whole run incl. warm-up)")
    print(f"  outcomes {dict(outcomes)}; connections opened {opened}; server saw {stats}")
    return rate >= 500 and outcomes["sent"] == count and stats.get("connections", 0) <= pool


async def limited(count: int, per_second: float, tls: str) -> bool:
    server = Server(tls)
    channel = channel_for(server, tls, per_second, 4)
    limiter = make_limiter(channel.rate_limit)

    async def take_token() -> object:
        return await limiter.try_acquire_async("email")

    try:
        _, stamps, outcomes = await run(channel, count, 8, take_token)
        await channel.aclose()
    finally:
        stats = server.stop()
    # The bucket starts full: its first burst goes at once. Measure the steady rate after it.
    steady = stamps[channel.rate_limit.count :]
    rate = (len(steady) - 1) / (steady[-1] - steady[0])
    error = abs(rate - per_second) / per_second
    print(
        f"limited to {per_second:g}/s ({channel.rate_limit}): {count} emails, measured "
        f"{rate:.2f}/s ({error:.2%} off); outcomes {dict(outcomes)}; server saw {stats}"
    )
    return error <= 0.02 and outcomes["sent"] == count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--pool", type=int, default=8)
    parser.add_argument("--tls", choices=("none", "starttls", "ssl"), default="none")
    parser.add_argument("--limited-messages", type=int, default=500)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--skip-limited", action="store_true")
    args = parser.parse_args()
    ok = asyncio.run(unlimited(args.messages, args.workers, args.pool, args.tls))
    if not args.skip_limited:
        ok = asyncio.run(limited(args.limited_messages, args.rate, args.tls)) and ok
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
