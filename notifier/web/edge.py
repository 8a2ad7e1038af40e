"""Checks at the edge of the web app: hostile input becomes a 4xx with a readable message.

Everything a caller controls passes through here before it reaches a parser, the database
or a log: ASCII digits only where a number is meant (``"²"`` is a digit to ``str.isdigit``
but not to ``int``), ids within the database's integer range, phone numbers read by
``phonenumbers`` into E.164, no NUL or other control characters (PostgreSQL refuses NUL in
text), and length limits.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from fastapi import HTTPException

from notifier.geo import phone_country
from notifier.model import MAX_DB_INT

__all__ = [
    "MAX_DB_INT",
    "SenderNumber",
    "ascii_digits",
    "clean_text",
    "db_id",
    "plain_token",
    "sender_number",
    "url_token",
]

_ASCII_DIGITS = frozenset("0123456789")


def ascii_digits(value: str, *, max_length: int) -> bool:
    """True for 1 to ``max_length`` ASCII digits and nothing else."""
    return 0 < len(value) <= max_length and all(c in _ASCII_DIGITS for c in value)


def db_id(value: str) -> int | None:
    """The database id ``value`` spells, or None when it cannot be one (not ASCII digits,
    zero, or beyond the integer range of the id columns)."""
    if not ascii_digits(value, max_length=10):
        return None
    number = int(value)
    return number if 1 <= number <= MAX_DB_INT else None


def _has_control(value: str, allowed: str = "") -> bool:
    return any((ord(c) < 32 or 0x7F <= ord(c) < 0xA0) and c not in allowed for c in value)


def clean_text(value: str, field: str, *, max_length: int, multiline: bool = False) -> str:
    """``value`` stripped; 400 when it holds NUL or control characters (tabs and line breaks
    are fine in ``multiline`` text) or is longer than ``max_length``."""
    if _has_control(value, "\t\r\n" if multiline else ""):
        raise HTTPException(400, f"{field} contains NUL or control characters")
    if len(value) > max_length:
        raise HTTPException(400, f"{field} is longer than {max_length} characters")
    return value.strip()


def plain_token(value: str, field: str, *, max_length: int) -> str:
    """An identifier such as a Twilio MessageSid or status: ASCII letters, digits, ``_``
    and ``-`` only; 400 otherwise."""
    value = value.strip()
    if not value or len(value) > max_length:
        raise HTTPException(400, f"{field} must be 1 to {max_length} characters")
    if not (value.isascii() and value.replace("_", "").replace("-", "").isalnum()):
        raise HTTPException(400, f"{field} may only hold letters, digits, '_' and '-'")
    return value


def url_token(value: str, *, max_length: int = 128) -> bool:
    """True when ``value`` can be a token we issued (``secrets.token_urlsafe``): ASCII
    letters, digits, ``-`` and ``_``. Anything else (a NUL byte, which PostgreSQL refuses
    in a query) is not looked up at all."""
    return (
        0 < len(value) <= max_length
        and value.isascii()
        and value.replace("-", "").replace("_", "").isalnum()
    )


@dataclass(frozen=True, slots=True)
class SenderNumber:
    """A sender's phone number in E.164, and the country (ISO 3166 alpha-2) it belongs to.

    Every +1 number counts as US (``notifier.geo.phone_country``).
    """

    e164: str
    country: str | None


def sender_number(value: str, field: str = "From") -> SenderNumber:
    """Read a phone number that Twilio reports (E.164, ``+`` and digits); 400 otherwise.

    The number is personal data: the error never repeats it.
    """
    value = clean_text(value, field, max_length=32)
    if not value.startswith("+") or not ascii_digits(value[1:], max_length=15):
        raise HTTPException(400, f"{field} is not a phone number in E.164 form (+ and digits)")
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise HTTPException(400, f"{field} is not a phone number") from None
    if not phonenumbers.is_possible_number(parsed):
        raise HTTPException(400, f"{field} is not a possible phone number")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return SenderNumber(e164, phone_country(e164))
