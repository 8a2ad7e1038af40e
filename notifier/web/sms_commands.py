"""What an inbound text asks for: a pure parser of keywords, shared by tests and routes.

Only the FIRST word decides, so "HELP stop" is a request for help and never an opt-out (an
earlier notifier unsubscribed people who asked for help). Keywords are Twilio's standard
opt-out/opt-in/help sets, plus sign-up, status and manage words in each supported language,
which also tell us which language to answer in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from notifier.messaging.render import DEFAULT_RADIUS, MAX_RADIUS

__all__ = [
    "DEFAULT_RADIUS",
    "HELP_WORDS",
    "MANAGE_WORDS",
    "MAX_GIVEN_SHOWN",
    "MAX_POSTAL_CODE",
    "MAX_RADIUS",
    "START_WORDS",
    "STOP_WORDS",
    "Command",
    "Intent",
    "parse_command",
]


class Intent(StrEnum):
    STOP = "stop"
    START = "start"
    YES = "yes"
    HELP = "help"
    SUBSCRIBE = "subscribe"
    STATUS = "status"
    MANAGE = "manage"
    UNKNOWN = "unknown"


# Twilio's default keyword lists (Messaging Service "Advanced Opt-Out" uses the same).
STOP_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
)
START_WORDS = frozenset({"START", "UNSTOP"})
YES_WORDS = frozenset({"YES"})
HELP_WORDS = {"HELP": None, "INFO": None, "AYUDA": "es", "HILFE": "de"}
SUBSCRIBE_WORDS = {
    "SUBSCRIBE": "en",
    "JOIN": "en",
    "SUSCRIBIR": "es",
    "SUSCRIBIRSE": "es",
    "ALTA": "es",
    "ABONNIEREN": "de",
    "ANMELDEN": "de",
}
STATUS_WORDS = {"STATUS": None, "ESTADO": "es"}
# "Send me the link to my settings page". English answers in the subscriber's own language,
# like HELP: a German subscriber may well type the English word.
MANAGE_WORDS = {"MANAGE": None, "VERWALTEN": "de", "GESTIONAR": "es", "ADMINISTRAR": "es"}

# The radius people give is in the unit of their language (``notifier.messaging.render``
# ``distance_unit``), with its default and bounds from there: DEFAULT_RADIUS, MAX_RADIUS.
_UNIT_SUFFIXES = (("miles", "mi"), ("mile", "mi"), ("mi", "mi"), ("km", "km"))
MAX_POSTAL_CODE = 12
#: characters of an unreadable radius quoted back in the reply ("... is not a distance")
MAX_GIVEN_SHOWN = 12
_WORD_EDGE = re.compile(r"^[^\w<]+|[^\w>]+$")


@dataclass(frozen=True, slots=True)
class Command:
    intent: Intent
    keyword: str = ""
    postal_code: str | None = None  # as typed (SUBSCRIBE); validated by the caller
    radius: int | None = None  # as typed (ASCII digits, 1 to 4 of them); None: the default
    radius_unit: str | None = None  # "km" or "mi" when typed ("10km"); else the language's
    radius_given: str | None = None  # an unreadable radius, to say so
    language: str | None = None  # the language the keyword is in, when it tells


def parse_command(body: str | None) -> Command:
    """Classify one inbound text by its first word (case, punctuation and spacing ignored)."""
    words = [w for w in (_WORD_EDGE.sub("", raw) for raw in (body or "").split()) if w]
    if not words:
        return Command(Intent.UNKNOWN)
    keyword = words[0].upper()
    if keyword in STOP_WORDS:
        return Command(Intent.STOP, keyword)
    if keyword in START_WORDS:
        return Command(Intent.START, keyword)
    if keyword in YES_WORDS:
        return Command(Intent.YES, keyword)
    if keyword in HELP_WORDS:
        return Command(Intent.HELP, keyword, language=HELP_WORDS[keyword])
    if keyword in STATUS_WORDS:
        return Command(Intent.STATUS, keyword, language=STATUS_WORDS[keyword])
    if keyword in MANAGE_WORDS:
        return Command(Intent.MANAGE, keyword, language=MANAGE_WORDS[keyword])
    if keyword in SUBSCRIBE_WORDS:
        code = words[1] if len(words) > 1 else None
        radius, unit, given = _read_radius(words[2]) if len(words) > 2 else (None, None, None)
        return Command(
            Intent.SUBSCRIBE,
            keyword,
            postal_code=code[:MAX_POSTAL_CODE] if code else None,
            radius=radius,
            radius_unit=unit,
            radius_given=given,
            language=SUBSCRIBE_WORDS[keyword],
        )
    return Command(Intent.UNKNOWN, keyword[:20])


def _read_radius(word: str) -> tuple[int | None, str | None, str | None]:
    """``"25"`` -> (25, None, None); ``"10km"`` -> (10, "km", None); anything else, such as
    ``"²"`` (a digit to ``str.isdigit``, not to ``int``) or 5,000 digits, -> (None, None,
    word shortened to show in a reply). Bounds depend on the unit, so the caller checks them.
    """
    text, unit = word.lower(), None
    for suffix, name in _UNIT_SUFFIXES:
        if text.endswith(suffix):
            text, unit = text.removesuffix(suffix), name
            break
    if text.isascii() and text.isdigit() and len(text) <= 4:
        return int(text), unit, None
    return None, None, word[:MAX_GIVEN_SHOWN]
