"""Per-key rate limits for sign-ups (client IP address, phone number prefix).

Every limiter answers ``await limiter.take(key)``: 0.0 when the attempt is allowed, else the
seconds until it would be (the page's ``Retry-After``). ``signup_limiters`` picks where the
buckets live, in this one place, by the database:

* SQLite (the embedded default, one process): a token bucket per key in this process's
  memory (``KeyedLimiter``). It is exact there and costs no database write per request.
* PostgreSQL (several ``notifier web`` processes may share it, as in multi-node mode): one
  row per key in ``signup_limit``, checked with one atomic statement
  (``notifier.db.signup_limits``), so N processes together allow the limit once, not N
  times. Keys are stored as keyed digests, never as IP addresses or phone prefixes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from notifier.config import RateLimitConfig, SignupConfig
from notifier.db import signup_limits

__all__ = [
    "UNCHECKED",
    "KeyedLimiter",
    "SharedLimiter",
    "SharedLimits",
    "SignupLimiter",
    "SignupLimiters",
    "minutes",
    "signup_limiters",
]

log = logging.getLogger(__name__)

IP_SCOPE = "ip"
PREFIX_SCOPE = "phone_prefix"
UNCHECKED = (
    "the %s sign-up limit was not checked (%s): let through. Is the database reachable, and"
    " upgraded (`notifier db upgrade`)?"
)


class SignupLimiter(Protocol):
    async def take(self, key: str) -> float:
        """Spend one attempt of ``key``: 0.0 if allowed, else the seconds until it would be."""
        ...


class KeyedLimiter:
    """A token bucket per key, in memory: ``count`` attempts, refilled over ``per_seconds``.

    The table of buckets is bounded: when it is full, the buckets that are full again (idle
    keys) are dropped first.
    """

    def __init__(
        self,
        count: int,
        per_seconds: float,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = float(count)
        self.rate = count / per_seconds  # tokens per second
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, stamp)

    def _tokens(self, key: str, now: float) -> float:
        tokens, stamp = self._buckets.get(key, (self.capacity, now))
        return min(self.capacity, tokens + (now - stamp) * self.rate)

    async def take(self, key: str) -> float:
        now = self._clock()
        tokens = self._tokens(key, now)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if key not in self._buckets and len(self._buckets) >= self.max_keys:
            self._prune(now)
        self._buckets[key] = (tokens - 1.0, now)
        return 0.0

    def _prune(self, now: float) -> None:
        full = [k for k in self._buckets if self._tokens(k, now) >= self.capacity]
        for key in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[key]


class SharedLimits:
    """The PostgreSQL side of the shared limiters: their connections, key digests, pruning.

    **An unreachable database fails open**: the check lets the request through (and logs a
    warning at most once a minute). The limits protect the database and the SMS bill, and
    without the database neither can be reached: the sign-up cannot be stored nor its
    confirmation text queued, so the writer answers the person with a 503 and a Retry-After.
    Failing closed would add nothing then, and would turn people away whenever only the
    limit check failed (a pool timeout during a spike) while sign-ups could still be stored.
    """

    def __init__(
        self,
        engine: Engine,
        secret: str,
        *,
        prune_every: float = 60.0,
        warn_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = signup_limits.limit_engine(engine)
        # Keyed with the web secret: an IPv4 address or a phone prefix is too short a space
        # for a plain hash to hide.
        self._digest_key = hashlib.blake2b(secret.encode(), digest_size=32).digest()
        self.prune_every = prune_every
        self.warn_every = warn_every
        self._clock = clock
        self._next_prune = 0.0  # the first check prunes what earlier runs left behind
        self._next_warning = 0.0
        self._pruning: asyncio.Task[None] | None = None

    def limiter(self, scope: str, limit: RateLimitConfig) -> SharedLimiter:
        return SharedLimiter(self, scope, limit.count, limit.per_seconds)

    def digest(self, key: str) -> str:
        return hashlib.blake2b(key.encode(), key=self._digest_key, digest_size=16).hexdigest()

    def check(self, scope: str, key: str, count: int, per_seconds: float) -> float:
        """One check, in a worker thread; 0.0 (allowed) when the database does not answer."""
        try:
            with self.engine.connect() as conn:
                return signup_limits.take(conn, scope, self.digest(key), count, per_seconds)
        except SQLAlchemyError as error:
            self._warn(UNCHECKED, scope, error)
            return 0.0

    def prune_if_due(self) -> None:
        """Start a prune in the background at most every ``prune_every`` seconds; the check
        that starts it does not wait for it."""
        now = self._clock()
        if now < self._next_prune or (self._pruning is not None and not self._pruning.done()):
            return
        self._next_prune = now + self.prune_every
        self._pruning = asyncio.get_running_loop().create_task(run_in_threadpool(self.prune))

    def prune(self) -> None:
        try:
            with self.engine.connect() as conn:
                removed = signup_limits.prune(conn)
        except SQLAlchemyError as error:
            self._warn("pruning the %s failed (%s); tried again later", "sign-up limits", error)
            return
        log.debug("pruned %d expired sign-up limit keys", removed)

    def _warn(self, message: str, what: str, error: SQLAlchemyError) -> None:
        """Log ``message % (what, the error's type)``, at most once per ``warn_every``: an
        outage must not write a line per request (the error's text is left out: it may
        quote the statement)."""
        now = self._clock()
        if now >= self._next_warning:
            self._next_warning = now + self.warn_every
            log.warning(message, what, type(error).__name__)

    async def aclose(self) -> None:
        if self._pruning is not None:
            await asyncio.gather(self._pruning, return_exceptions=True)
        self.engine.dispose()


@dataclass(frozen=True, slots=True)
class SharedLimiter:
    """One limit (``count`` per ``per_seconds``) of one scope, kept in PostgreSQL."""

    limits: SharedLimits
    scope: str
    count: int
    per_seconds: float

    async def take(self, key: str) -> float:
        wait = await run_in_threadpool(
            self.limits.check, self.scope, key, self.count, self.per_seconds
        )
        self.limits.prune_if_due()
        return wait


@dataclass(frozen=True, slots=True)
class SignupLimiters:
    per_ip: SignupLimiter
    per_prefix: SignupLimiter
    shared: SharedLimits | None = None  # to close on shutdown

    async def aclose(self) -> None:
        if self.shared is not None:
            await self.shared.aclose()


def signup_limiters(engine: Engine, settings: SignupConfig, secret: str) -> SignupLimiters:
    """The sign-up limiters for ``engine``'s database: the one place that picks the backend.

    Chosen by the database, not by ``engine:`` (the job engine): several ``notifier web``
    processes can only share a PostgreSQL database, whatever schedules the polls, and only
    shared buckets make their limits hold together. SQLite is one process, where the
    in-memory buckets are exact and keep a database write off every sign-up (the 1,000
    sign-ups a second goal is measured there).
    """
    if engine.dialect.name == "postgresql":
        shared = SharedLimits(engine, secret)
        return SignupLimiters(
            per_ip=shared.limiter(IP_SCOPE, settings.per_ip),
            per_prefix=shared.limiter(PREFIX_SCOPE, settings.per_phone_prefix),
            shared=shared,
        )
    return SignupLimiters(
        per_ip=KeyedLimiter(settings.per_ip.count, settings.per_ip.per_seconds),
        per_prefix=KeyedLimiter(
            settings.per_phone_prefix.count, settings.per_phone_prefix.per_seconds
        ),
    )


def minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60.0))
