"""Helpers shared by the SMS channel tests (module name unique across the test tree)."""

from __future__ import annotations

from typing import Any

from notifier.testing.twilio_stub import TwilioStub

SENDER = "+16175550000"


def sms_settings(stub: TwilioStub, **overrides: Any) -> dict[str, Any]:
    """Channel settings aimed at ``stub``; ``overrides`` replace single keys."""
    settings: dict[str, Any] = {
        "account_sid": stub.account_sid,
        "auth_token": stub.auth_token,
        "from_number": SENDER,
        "base_url": "https://alerts.example.org",
        "status_callback_url": "https://alerts.example.org/sms/status",
        "api_base_url": stub.url,
        "timeout": 0.5,
    }
    settings.update(overrides)
    return settings
