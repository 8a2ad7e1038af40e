"""Personal data never reaches a log: phone numbers and email addresses are masked."""

from __future__ import annotations

import logging
import re

__all__ = ["MaskingFilter", "mask", "mask_text"]

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
# E.164 (+ and 8-15 digits) or a North American number written 3-3-4, with common separators.
# Dates and ids do not have that shape, so they stay readable.
_PHONE = re.compile(
    r"(?<![\w/+])(\+\d{8,15}|(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4})(?![\w/])"
)


def mask(address: str | None) -> str:
    """``+16175554567`` -> ``+1617***4567``; ``jane@example.org`` -> ``j***@example.org``."""
    if not address:
        return ""
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    digits = re.sub(r"[^\d+]", "", address)
    if len(digits) <= 6:
        return "***"
    return f"{digits[:5]}***{digits[-4:]}"


def mask_text(text: str) -> str:
    """Mask every phone number and email address found in free text."""
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return _PHONE.sub(lambda m: mask(m.group(1)), text)


class MaskingFilter(logging.Filter):
    """A logging filter that masks personal data in every record, as a last line of defence."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
