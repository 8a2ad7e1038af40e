"""Sign-up rate limits shared by every web process: one upsert per check (PostgreSQL only).

The bucket is GCRA's (the "generic cell rate algorithm"): a key's whole state is ``full_at``,
the time its bucket is full again. With ``interval`` = window / count seconds per attempt, a
check is allowed when ``max(full_at, now) + interval <= now + window`` and then moves
``full_at`` to that sum; a refused check leaves it alone and waits ``max(full_at, now) +
interval - window - now``. That is the in-memory limiter's token bucket (``count`` attempts,
refilled over the window) kept in one column, and a row whose ``full_at`` has passed means the
same as no row, so pruning it changes no decision.

``take`` is a single ``INSERT ... ON CONFLICT DO UPDATE``: PostgreSQL locks the key's row
before it evaluates the update, so processes racing on one key are served one after the other
and never together exceed the limit. The update reads the clock after the lock
(``clock_timestamp()``, once, in a sub-select; ``now()`` is when the statement started), so a
check that waited for the lock is not dated back, and every web machine measures against the
database's clock. Run on ``limit_engine``'s autocommit connections it is one round trip.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, text

from notifier.db._sql import is_postgres
from notifier.db.engine import make_engine

__all__ = ["limit_engine", "prune", "take"]

#: connections per web process for the limit checks; a check holds one for one round trip
POOL_SIZE = 4
#: seconds a check may wait for a connection or to connect before the caller gives up
CONNECT_TIMEOUT = 5

_TAKE = text(
    """
    INSERT INTO signup_limit AS b (scope, key, full_at, allowed)
    VALUES (:scope, :key, clock_timestamp() + make_interval(secs => :interval), true)
    ON CONFLICT (scope, key) DO UPDATE SET (full_at, allowed) = (
        SELECT CASE WHEN step.ok THEN step.next ELSE b.full_at END, step.ok
        FROM (
            SELECT greatest(b.full_at, now.t) + make_interval(secs => :interval) AS next,
                   greatest(b.full_at, now.t) + make_interval(secs => :interval)
                       <= now.t + make_interval(secs => :window) AS ok
            FROM (SELECT clock_timestamp() AS t) AS now
        ) AS step
    )
    RETURNING allowed, CAST(extract(epoch FROM full_at - clock_timestamp()) AS double precision)
    """
)

_PRUNE = text("DELETE FROM signup_limit WHERE full_at < clock_timestamp()")


def limit_engine(engine: Engine) -> Engine:
    """A small pool on ``engine``'s database for the checks: autocommit (no BEGIN and COMMIT
    around the one statement) and no pre-ping (a dropped connection fails its check, which
    the caller answers, and is replaced), so a check is one round trip."""
    url = engine.url.render_as_string(hide_password=False)
    return make_engine(
        url,
        isolation_level="AUTOCOMMIT",
        pool_pre_ping=False,
        pool_size=POOL_SIZE,
        max_overflow=POOL_SIZE,
        pool_timeout=CONNECT_TIMEOUT,
        connect_args={"connect_timeout": CONNECT_TIMEOUT},
    )


def _require_postgres(conn: Connection) -> None:
    if not is_postgres(conn):
        raise NotImplementedError(
            "shared sign-up limits need PostgreSQL; SQLite keeps them in memory"
        )


def take(conn: Connection, scope: str, key: str, count: int, per_seconds: float) -> float:
    """Spend one of ``count`` attempts per ``per_seconds`` of ``key`` in ``scope``: 0.0 when
    allowed, else the seconds until an attempt would be (always above zero)."""
    _require_postgres(conn)
    interval = per_seconds / count
    params = {"scope": scope, "key": key, "interval": interval, "window": float(per_seconds)}
    allowed, until_full = conn.execute(_TAKE, params).one()
    if allowed:
        return 0.0
    # Refused: full_at was left as it was; the next attempt fits once now + window reaches
    # full_at + interval. The floor keeps a refusal a refusal when the clocks of the update
    # and of RETURNING straddle that moment.
    return max(until_full + interval - per_seconds, 0.001)


def prune(conn: Connection) -> int:
    """Delete the keys whose bucket is full again (they decide nothing); returns how many."""
    _require_postgres(conn)
    return conn.execute(_PRUNE).rowcount
