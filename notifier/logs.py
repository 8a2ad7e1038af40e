"""Logging set-up: readable lines, and personal data masked before anything is written."""

from __future__ import annotations

import logging

from notifier.privacy import MaskingFilter

__all__ = ["setup_logging"]


def setup_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    # The filter sits on the handler so it also covers records from third-party libraries.
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "twilio.http_client", "aiosmtpd", "mail.log"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # A poll that is still running when its next run is due is skipped by design
    # (max_instances=1, coalesce); APScheduler would warn about each one.
    logging.getLogger("apscheduler").setLevel(max(level, logging.ERROR))
