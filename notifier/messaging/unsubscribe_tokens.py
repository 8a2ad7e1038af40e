"""Signed one-click unsubscribe tokens (RFC 8058 links), shared by channels and the web app.

A token names one subscriber of one channel and is signed with the operator's secret
(itsdangerous, HMAC-SHA1 over a timestamped payload), so nobody can unsubscribe someone else
by editing a number in a URL. The payload holds only the subscriber id and the channel name:
no address ever appears in a link. ``read_unsubscribe_token`` tells a tampered token
(``BadUnsubscribeToken``) from an old one (``ExpiredUnsubscribeToken``) so the page can say
which, and never raises anything else for bad input.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

__all__ = [
    "BadUnsubscribeToken",
    "ExpiredUnsubscribeToken",
    "UnsubscribeClaim",
    "make_unsubscribe_token",
    "read_unsubscribe_token",
]

# A salt per purpose: a token signed for unsubscribing can never pass as anything else.
_SALT = "notifier.messaging.unsubscribe_tokens.v1"
_MIN_SECRET_LENGTH = 16


class BadUnsubscribeToken(ValueError):
    """The token was not signed by us, was edited, or is not a token at all."""


class ExpiredUnsubscribeToken(BadUnsubscribeToken):
    """The signature is ours but older than the allowed age."""


@dataclass(frozen=True, slots=True)
class UnsubscribeClaim:
    subscriber_id: int
    channel: str
    signed_at: dt.datetime | None


@functools.lru_cache(maxsize=8)
def _serializer(secret: str) -> URLSafeTimedSerializer:
    if len(secret) < _MIN_SECRET_LENGTH:
        raise ValueError(f"the signing secret must have at least {_MIN_SECRET_LENGTH} characters")
    return URLSafeTimedSerializer(secret, salt=_SALT)


def make_unsubscribe_token(secret: str, subscriber_id: int, channel: str) -> str:
    """A URL-safe token (about 50 characters) binding ``subscriber_id`` to ``channel``."""
    return str(_serializer(secret).dumps([int(subscriber_id), channel]))


def read_unsubscribe_token(
    secret: str, token: str, *, max_age: dt.timedelta | None = None
) -> UnsubscribeClaim:
    """Verify ``token``; raises ``ExpiredUnsubscribeToken`` / ``BadUnsubscribeToken``."""
    serializer = _serializer(secret)
    seconds = int(max_age.total_seconds()) if max_age is not None else None
    try:
        payload, signed_at = serializer.loads(token, max_age=seconds, return_timestamp=True)
    except SignatureExpired as exc:
        raise ExpiredUnsubscribeToken("the unsubscribe link has expired") from exc
    except BadData as exc:
        raise BadUnsubscribeToken("the unsubscribe link is not valid") from exc
    # A correctly signed payload has our shape; check anyway so a future format change
    # cannot turn into an exception the web page does not expect.
    if (
        not isinstance(payload, list)
        or len(payload) != 2
        or not isinstance(payload[0], int)
        or not isinstance(payload[1], str)
    ):
        raise BadUnsubscribeToken("the unsubscribe link is not valid")
    return UnsubscribeClaim(subscriber_id=payload[0], channel=payload[1], signed_at=signed_at)
