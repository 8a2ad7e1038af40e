"""The README's main job: a short demo run goes through the whole chain."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from sqlalchemy import create_engine, func, select

from notifier.db.tables import alert_table, delivery_table
from notifier.demo.resident import RESIDENT_EMAIL, RESIDENT_PHONE
from notifier.demo.run import run_demo


async def test_short_demo_alerts_and_delivers_on_every_channel(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    started = time.monotonic()
    report = await run_demo(
        20, subscriber_count=300, database=database, console=Console(quiet=True)
    )
    assert time.monotonic() - started < 20 + 10  # the budget, plus start-up slack
    assert report.alerts >= 6  # the release reaches every one of the six sites
    assert set(report.deliveries) == {"console", "sms", "email", "x", "apprise"}
    for channel, states in report.deliveries.items():
        assert states.get("sent", 0) > 0, channel
        assert set(states) <= {"sent", "pending", "held", "cancelled", "expired"}, channel
    assert report.detection_to_hand_off_s and report.publish_to_hand_off_s
    assert set(report.per_channel_s) == set(report.deliveries)

    # The resident signed up through the web form, confirmed on both channels, and then got
    # slot alerts; what the demo shows of it has the addresses masked.
    resident = report.resident
    assert resident.signed_up == {"sms": 200, "email": 200}
    assert resident.confirmed == {"sms": True, "email": True}
    first_sms = next(text for channel, _, text in resident.received if channel == "sms")
    assert first_sms.startswith("Reply YES")
    assert resident.alerts_received("sms") >= 1 and resident.alerts_received("email") >= 1
    assert {c for c, _, _ in resident.received} >= {"sms", "email", "x", "apprise"}
    assert all(
        RESIDENT_PHONE not in who and RESIDENT_EMAIL not in who for _, who, _ in resident.received
    )
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        alerts = conn.execute(select(func.count()).select_from(alert_table)).scalar_one()
        console = conn.execute(
            select(func.count())
            .select_from(delivery_table)
            .where(delivery_table.c.channel == "console", delivery_table.c.state == "sent")
        ).scalar_one()
    assert alerts == report.alerts == console  # exactly one console hand-off per alert
    # The residents' page was published beside the database while the demo ran.
    page = (tmp_path / "public" / "index.html").read_text("utf-8")
    assert "Gillette" in page and 'href="/signup?lang=en"' in page
    assert (tmp_path / "public" / "de" / "index.html").is_file()
