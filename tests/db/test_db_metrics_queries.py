"""The database state behind /metrics, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from notifier.db import metrics_queries
from notifier.db.fanout import ChannelPlan, claim_due, defer, write_alert
from notifier.db.providers import record_poll_outcome
from tests.db.db_support import CAMBRIDGE, NOW, add_sub, make_alert, offset


def test_backlog_counts_only_what_is_due_and_open_alerts_expire(engine: Engine) -> None:
    with engine.begin() as conn:
        for miles in (1, 2, 3, 4, 5):
            add_sub(conn, *offset(*CAMBRIDGE, north_miles=miles))
        # Two open appointments, one subscriber per appointment: a wave of 2, three held.
        plan = ChannelPlan("sms", "recipient", wave_multiple=1.0)
        written = write_alert(conn, make_alert(appointments=2), channels=[plan])
        write_alert(conn, make_alert(provider_id="other", ttl=dt.timedelta(minutes=5)), channels=[])
    assert written.channels["sms"].first_wave == 2
    later = NOW + dt.timedelta(minutes=10)
    with engine.begin() as conn:
        backlog = metrics_queries.outbox_backlog(conn, NOW)
        assert backlog == {"sms": metrics_queries.Backlog(2, NOW)}
        assert metrics_queries.open_alerts(conn, NOW) == {"prov": 1, "other": 1}
        assert metrics_queries.open_alerts(conn, later) == {"prov": 1}
        # A claimed delivery still counts until it is sent; a deferred one does not yet.
        [_first, second] = claim_due(conn, "sms", limit=2, now=NOW, lease_seconds=60)
        defer(conn, [second.id], NOW + dt.timedelta(hours=1))
        assert metrics_queries.outbox_backlog(conn, NOW) == {"sms": metrics_queries.Backlog(1, NOW)}
        # Ten minutes on, the deferred one is still not due; the one being sent still counts.
        assert metrics_queries.outbox_backlog(conn, later)["sms"].due == 1
        assert metrics_queries.delivery_counts(conn) == {
            ("sms", "sending"): 1,
            ("sms", "pending"): 1,
            ("sms", "held"): 3,
        }


def test_provider_health_reports_the_last_success_and_the_outage(engine: Engine) -> None:
    with engine.begin() as conn:
        record_poll_outcome(conn, "good", "prepmod", "ok", None, NOW)
        record_poll_outcome(conn, "flaky", "prepmod", "ok", None, NOW)
        record_poll_outcome(
            conn, "flaky", "prepmod", "unreachable", "timeout", NOW + dt.timedelta(minutes=1)
        )
        record_poll_outcome(conn, "never", "heb", "blocked", "403", NOW)
        health = {row.provider_id: row for row in metrics_queries.provider_health(conn)}
    assert health["good"] == metrics_queries.ProviderHealth("good", NOW, None)
    assert health["flaky"] == metrics_queries.ProviderHealth(
        "flaky", NOW, NOW + dt.timedelta(minutes=1)
    )
    assert health["never"] == metrics_queries.ProviderHealth("never", None, NOW)
