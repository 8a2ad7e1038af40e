"""How the email channel reads SMTP failures: retry, fail, blame the address, or the operator.

The table is in the docstring of ``channels.email``. Enhanced status codes (RFC 3463) decide
whether a 5xx to RCPT is about the address (5.1.x: no such user) or about us (5.7.x: relaying
denied, policy), so one relay misconfiguration cannot mark every subscriber invalid.
"""

from __future__ import annotations

import ssl

import aiosmtplib

from notifier.channel import RecipientState, SendResult
from notifier.privacy import mask_text

__all__ = ["classify_smtp_error", "needs_operator"]


def _enhanced_code(message: str) -> str:
    """``5.7.1`` from ``"5.7.1 Relaying denied"`` (RFC 3463), or ``""``."""
    head = message.strip().split(" ", 1)[0]
    parts = head.split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return head
    return ""


def classify_smtp_error(exc: BaseException) -> SendResult:
    """Map an aiosmtplib exception onto a ``SendResult`` (see the module docstring)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refusal = exc.recipients[0] if exc.recipients else None
        code = refusal.code if refusal else 550
        text = mask_text(f"recipient refused: {code} {refusal.message if refusal else ''}")
        if code < 500:
            return SendResult.retry(text)
        if _enhanced_code(refusal.message if refusal else "").startswith("5.7."):
            return SendResult.failed(text)  # policy / relaying: our setup, not their address
        return SendResult.failed(text, recipient_state=RecipientState.INVALID)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        what = {
            aiosmtplib.SMTPAuthenticationError: "login refused",
            aiosmtplib.SMTPSenderRefused: "sender refused",
            aiosmtplib.SMTPDataError: "message refused",
        }.get(type(exc), "server refused")
        text = mask_text(f"{what}: {exc.code} {exc.message}")
        if 400 <= exc.code < 500:
            return SendResult.retry(text)
        return SendResult.failed(text)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return SendResult.failed(mask_text(f"server lacks a needed feature: {exc}"))
    if isinstance(exc, ssl.SSLError):
        return SendResult.retry(f"TLS failed: {type(exc).__name__}: {exc.reason or exc}")
    if isinstance(exc, (aiosmtplib.SMTPException, OSError, TimeoutError)):
        return SendResult.retry(mask_text(f"cannot reach the SMTP server: {exc}"))
    raise exc


def needs_operator(exc: BaseException) -> bool:
    """Failures only the operator can fix: credentials, sender address, relaying, TLS."""
    if isinstance(exc, (aiosmtplib.SMTPAuthenticationError, aiosmtplib.SMTPNotSupported)):
        return True
    if isinstance(exc, ssl.SSLError):
        return True
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return any(_enhanced_code(r.message).startswith("5.7.") for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        # 530/535/538: authentication required or refused, also as a reply to MAIL or RCPT.
        refused_sender = isinstance(exc, aiosmtplib.SMTPSenderRefused) and exc.code >= 500
        return exc.code in (530, 535, 538) or refused_sender
    return False
