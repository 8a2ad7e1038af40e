"""Helpers shared by the email channel tests (module name unique across the test tree)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from notifier.model import Alert, Location
from notifier.testing.smtp_server import SmtpTestServer

NOW = dt.datetime(2021, 2, 24, 15, 0, tzinfo=dt.UTC)
SECRET = "test-signing-secret-0123456789"
BASE_URL = "https://alerts.example.org"
FROM = "Vaccine Alerts <alerts@alerts.example.org>"


def email_settings(server: SmtpTestServer, **overrides: Any) -> dict[str, Any]:
    """Channel settings aimed at ``server`` (plain SMTP unless ``overrides`` say otherwise)."""
    settings: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "security": server.tls,
        "from_address": FROM,
        "base_url": BASE_URL,
        "secret": SECRET,
        "timeout": 2.0,
        "pool_size": 2,
        "messages_per_second": 1000,
    }
    if server.cert_path is not None:
        settings["ca_file"] = str(server.cert_path)
    if server.auth is not None:
        settings["username"], settings["password"] = server.auth
    settings.update(overrides)
    return settings


def make_alert(
    *,
    alert_id: int | None = 42,
    location_id: str = "fenway",
    name: str = "Fenway Park",
    appointments: int | None = 1234,
    detected_at: dt.datetime = NOW,
    by_date: dict[dt.date, int | None] | None = None,
    booking_url: str | None = "https://book.example.org/clinic/fenway",
) -> Alert:
    return Alert(
        provider_id="prepmod",
        location=Location(
            id=location_id,
            name=name,
            address="4 Jersey St",
            city="Boston",
            state="MA",
            postal_code="02215",
            lat=42.3467,
            lon=-71.0972,
            booking_url=booking_url,
        ),
        kind="opened",
        appointments=appointments,
        increase=appointments,
        by_date=by_date
        if by_date is not None
        else {dt.date(2021, 2, 25): 1000, dt.date(2021, 2, 27): 234},
        products=("Moderna",),
        age_groups=("65+",),
        detected_at=detected_at,
        expires_at=detected_at + dt.timedelta(hours=2),
        id=alert_id,
    )


def lines(text: str) -> str:
    """Text as decoded from a received message (CRLF) compared with what was rendered (LF)."""
    return text.replace("\r\n", "\n").strip()


def unsubscribe_link(list_unsubscribe: str) -> str:
    match = re.match(r"^<(https://[^>]+)>,\s*<(mailto:[^>]+)>$", " ".join(list_unsubscribe.split()))
    assert match, list_unsubscribe
    return match.group(1)


def relative_luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio (7:1 is AAA for body text)."""
    a, b = sorted((relative_luminance(foreground), relative_luminance(background)))
    return (b + 0.05) / (a + 0.05)
