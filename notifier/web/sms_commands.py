"""What an inbound text asks for: a pure parser of keywords, shared by tests and routes.

Only the FIRST word decides, so "HELP stop" is a request for help and never an opt-out (an
earlier notifier unsubscribed people who asked for help). Keywords are Twilio's standard
opt-out/opt-in/help sets, plus sign-up words in each supported language, which also tell us
which language to answer in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "DEFAULT_MILES",
    "HELP_WORDS",
    "MAX_MILES",
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

DEFAULT_MILES = 10
MAX_MILES = 100
_WORD_EDGE = re.compile(r"^[^\w<]+|[^\w>]+$")


@dataclass(frozen=True, slots=True)
class Command:
    intent: Intent
    keyword: str = ""
    postal_code: str | None = None  # as typed (SUBSCRIBE); validated by the caller
    miles: int = DEFAULT_MILES
    miles_given: str | None = None  # an unreadable radius, to say so
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
    if keyword in SUBSCRIBE_WORDS:
        code = words[1] if len(words) > 1 else None
        miles, miles_given = DEFAULT_MILES, None
        if len(words) > 2:
            text = words[2].lower().removesuffix("mi").removesuffix("miles")
            if text.isdigit() and 1 <= int(text) <= MAX_MILES:
                miles = int(text)
            else:
                miles_given = words[2][:12]
        return Command(
            Intent.SUBSCRIBE,
            keyword,
            postal_code=code[:12] if code else None,
            miles=miles,
            miles_given=miles_given,
            language=SUBSCRIBE_WORDS[keyword],
        )
    return Command(Intent.UNKNOWN, keyword[:20])
