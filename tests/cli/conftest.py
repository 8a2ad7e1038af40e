"""The channel commands drive the real SMS channel against the Twilio stub: reuse its fixtures."""

from tests.channels.conftest import sms, twilio_stub, twilio_stub_server

__all__ = ["sms", "twilio_stub", "twilio_stub_server"]
