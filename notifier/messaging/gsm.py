"""SMS text encoding: GSM-7 detection, transliteration and segment arithmetic.

An SMS segment holds 160 GSM-7 characters, or only 70 UCS-2 (UTF-16) code units once a single
character lies outside the GSM-7 alphabet. One stray "–" or "ó" therefore more than doubles
the price of a message, so senders transliterate first (``to_gsm``) and measure second.
Longer texts are split into concatenated segments of 153 (GSM-7) or 67 (UCS-2) units.
"""

from __future__ import annotations

import math
import unicodedata
from enum import StrEnum

__all__ = [
    "GSM7_ALL",
    "GSM7_BASIC",
    "GSM7_EXTENDED",
    "Encoding",
    "encoding",
    "fit",
    "fits_one_segment",
    "is_gsm7",
    "segment_count",
    "single_segment_limit",
    "sms_length",
    "to_gsm",
]

# GSM 03.38 default alphabet (the escape code 0x1B is not a character of its own).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Reachable through the escape code: each costs two septets.
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")

# Punctuation that word processors and templates produce but GSM-7 lacks.
_PUNCTUATION = {
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2212": "-",  # minus
    "\u2010": "-",
    "\u2011": "-",
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u2032": "'",
    "\u00b4": "'",
    "`": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2033": '"',
    "\u2026": "...",
    "\u2022": "-",
    "\u00b7": "-",
    "\u00a0": " ",  # no-break space
    "\u202f": " ",
    "\u2009": " ",
    "\u200b": "",  # zero-width space
    "\t": " ",
}

SINGLE_GSM7 = 160
SINGLE_UCS2 = 70
MULTI_GSM7 = 153
MULTI_UCS2 = 67


class Encoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


GSM7_ALL = GSM7_BASIC | GSM7_EXTENDED


def is_gsm7(text: str) -> bool:
    return GSM7_ALL.issuperset(text)


def encoding(text: str) -> Encoding:
    return Encoding.GSM7 if is_gsm7(text) else Encoding.UCS2


def _transliterate_char(ch: str) -> str:
    if ch in GSM7_ALL:
        return ch
    if ch in _PUNCTUATION:
        return _PUNCTUATION[ch]
    # "ó" -> "o" + combining accent -> "o"; "ﬁ" -> "fi". Only when the result is all GSM-7,
    # so letters without a Latin base (Chinese, Cyrillic, emoji) stay and force UCS-2.
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    if base and is_gsm7(base):
        return base
    return ch


def to_gsm(text: str) -> str:
    """Replace characters GSM-7 lacks by their nearest GSM-7 form (``–`` -> ``-``, ``ó`` -> ``o``).

    Letters GSM-7 has (``é``, ``ñ``, ``ü``, ``ß``) are kept. Characters without a GSM-7 form stay,
    so the result may still need UCS-2 (check with ``is_gsm7``).
    """
    if is_gsm7(text):
        return text
    return "".join(_transliterate_char(ch) for ch in text)


def sms_length(text: str) -> int:
    """Length in the units segments are counted in: septets (GSM-7) or UTF-16 code units."""
    if is_gsm7(text):
        return len(text) + sum(text.count(ch) for ch in GSM7_EXTENDED)
    return len(text.encode("utf-16-le")) // 2


def single_segment_limit(text: str) -> int:
    """160 for a GSM-7 text, 70 for one that needs UCS-2."""
    return SINGLE_GSM7 if is_gsm7(text) else SINGLE_UCS2


def fits_one_segment(text: str) -> bool:
    """Whether ``text`` is one SMS segment: the budget of every text the service sends."""
    return sms_length(text) <= single_segment_limit(text)


def segment_count(text: str) -> int:
    """How many SMS segments the carrier bills for ``text`` (0 for an empty text)."""
    length = sms_length(text)
    gsm = is_gsm7(text)
    if length <= (SINGLE_GSM7 if gsm else SINGLE_UCS2):
        return 1 if length else 0
    return math.ceil(length / (MULTI_GSM7 if gsm else MULTI_UCS2))


def fit(text: str, limit: int | None = None, ellipsis: str = "...") -> str:
    """Cut ``text`` at a word boundary so it fits ``limit`` units (one segment by default)."""
    limit = single_segment_limit(text) if limit is None else limit
    if sms_length(text) <= limit:
        return text
    budget = limit - sms_length(ellipsis)
    cut = text[: max(budget, 0)]  # every character costs at least one unit
    while cut and sms_length(cut) > budget:
        cut = cut[:-1]
    # Prefer a word boundary when one is near (within 15 characters).
    space = cut.rfind(" ")
    if space >= len(cut) - 15 and space > 0:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + ellipsis
