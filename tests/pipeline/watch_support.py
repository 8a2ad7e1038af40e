"""Helpers for the failure-rate watch tests (module name unique across the test tree)."""

from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy import Engine, insert

from notifier.config import ChannelConfig, Config, DatabaseConfig, OperatorConfig
from notifier.db.engine import write_transaction
from notifier.db.fanout import write_alert
from notifier.db.tables import DeliveryState, delivery_table
from notifier.policies import OpsNoticeSettings
from notifier.testing.twilio_stub import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
from notifier.testing.webhook_stub import WebhookStub
from tests.db.db_support import make_alert

_alerts = itertools.count(1)

FAILING = "[Tests] Channel sms: "
BACK = "[Tests] Channel sms delivers again"


def watched_config(database_url: str, ops: WebhookStub, **settings: object) -> Config:
    """An SMS channel (nothing is sent through it) and ops notices to ``ops``, judged every
    second."""
    return Config(
        operator=OperatorConfig(name="Tests", contact="mailto:ops@example.org"),
        database=DatabaseConfig(url=database_url),
        channels={
            "sms": ChannelConfig(
                settings={
                    "account_sid": DEFAULT_ACCOUNT_SID,
                    "auth_token": DEFAULT_AUTH_TOKEN,
                    "from_number": "+16175550000",
                    "base_url": "https://alerts.example.org",
                    "api_base_url": "http://127.0.0.1:9",
                }
            )
        },
        ops_notices=OpsNoticeSettings.model_validate(
            {
                "targets": [f"json://127.0.0.1:{ops.port}/ops"],
                "failure_check_seconds": 1,
                "failure_rate_min_deliveries": 20,
                **settings,
            }
        ),
    )


def finish_deliveries(engine: Engine, *, sent: int = 0, failed: int = 0) -> None:
    """Record ``sent`` and ``failed`` SMS deliveries of a new alert, as dispatchers would."""
    now = dt.datetime.now(dt.UTC)
    with write_transaction(engine) as conn:
        n = next(_alerts)
        alert = make_alert(detected_at=now, source_id=f"watch-{n}")
        alert_id = write_alert(conn, alert, channels=[], now=now).alert_id
        rows = [
            {
                "alert_id": alert_id,
                "channel": "sms",
                "recipient": f"+1617555{k:04d}",
                "state": (DeliveryState.SENT if k < sent else DeliveryState.FAILED).value,
                "attempts": 1,
                "next_attempt_at": now,
                "sent_at": now if k < sent else None,
                "idempotency_key": f"watch-{n}-{k}",
                "created_at": now,
            }
            for k in range(sent + failed)
        ]
        conn.execute(insert(delivery_table), rows)


def titles(ops: WebhookStub) -> list[str]:
    return [str(r.json["title"]) for r in ops.requests]


def failure_notices(ops: WebhookStub) -> list[str]:
    return [t for t in titles(ops) if t.startswith(FAILING) or t == BACK]
