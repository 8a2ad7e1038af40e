"""Logging set-up: readable lines, and personal data masked before anything is written."""

from __future__ import annotations

import logging

from notifier.privacy import MaskingFilter

__all__ = ["SERVER_LOGGERS", "mask_server_loggers", "setup_logging"]

#: loggers of the web server stack; uvicorn's own handlers would write them unmasked
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "fastapi")


def setup_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    # The filter sits on the handler so it also covers records from third-party libraries.
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    mask_server_loggers()
    for noisy in ("httpx", "httpcore", "twilio.http_client", "aiosmtpd", "mail.log"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # A poll that is still running when its next run is due is skipped by design
    # (max_instances=1, coalesce); APScheduler would warn about each one.
    logging.getLogger("apscheduler").setLevel(max(level, logging.ERROR))


def mask_server_loggers() -> None:
    """Send the web server's records through our handlers, masked.

    uvicorn normally gives its loggers handlers of their own that do not propagate, which
    bypasses the masking filter on the root handler (a traceback quoting a form field would
    be written as is). Their own handlers are removed, they propagate to ours, and each gets
    the filter itself too, so they stay masked under any handler set up later.
    """
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        if not any(isinstance(f, MaskingFilter) for f in logger.filters):
            logger.addFilter(MaskingFilter())
