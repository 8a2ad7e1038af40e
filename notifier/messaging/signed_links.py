"""Signed links of the sign-up side: the manage page and the email confirmation.

* A manage token names one subscriber of one channel (like an unsubscribe token, with its own
  salt, so one kind of token can never pass as the other). Whoever holds the link may change
  that subscription, which is why it only ever travels to the subscriber's own address.
* A confirmation token wraps the random one-time token stored on the subscriber, so an edited
  or very old link is told apart from one that was already used.

Reading never raises anything but ``BadLink`` (or its subclass ``ExpiredLink``).
"""

from __future__ import annotations

import datetime as dt
import functools

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

__all__ = [
    "BadLink",
    "ExpiredLink",
    "make_confirm_token",
    "make_manage_token",
    "read_confirm_token",
    "read_manage_token",
]

_MANAGE_SALT = "notifier.messaging.signed_links.manage.v1"
_CONFIRM_SALT = "notifier.messaging.signed_links.confirm.v1"
_MIN_SECRET_LENGTH = 16


class BadLink(ValueError):
    """Not signed by us, edited, or not a token at all."""


class ExpiredLink(BadLink):
    """Signed by us but older than allowed."""


@functools.lru_cache(maxsize=16)
def _serializer(secret: str, salt: str) -> URLSafeTimedSerializer:
    if len(secret) < _MIN_SECRET_LENGTH:
        raise ValueError(f"the signing secret must have at least {_MIN_SECRET_LENGTH} characters")
    return URLSafeTimedSerializer(secret, salt=salt)


def _load(secret: str, salt: str, token: str, max_age: dt.timedelta | None) -> object:
    seconds = int(max_age.total_seconds()) if max_age is not None else None
    try:
        return _serializer(secret, salt).loads(token, max_age=seconds)
    except SignatureExpired as exc:
        raise ExpiredLink("the link has expired") from exc
    except BadData as exc:
        raise BadLink("the link is not valid") from exc


def make_manage_token(secret: str, subscriber_id: int, channel: str) -> str:
    return str(_serializer(secret, _MANAGE_SALT).dumps([int(subscriber_id), channel]))


def read_manage_token(
    secret: str, token: str, *, max_age: dt.timedelta | None = None
) -> tuple[int, str]:
    payload = _load(secret, _MANAGE_SALT, token, max_age)
    if (
        not isinstance(payload, list)
        or len(payload) != 2
        or not isinstance(payload[0], int)
        or not isinstance(payload[1], str)
    ):
        raise BadLink("the link is not valid")
    return payload[0], payload[1]


def make_confirm_token(secret: str, confirm_token: str) -> str:
    return str(_serializer(secret, _CONFIRM_SALT).dumps(confirm_token))


def read_confirm_token(secret: str, token: str, *, max_age: dt.timedelta | None = None) -> str:
    payload = _load(secret, _CONFIRM_SALT, token, max_age)
    if not isinstance(payload, str) or not payload:
        raise BadLink("the link is not valid")
    return payload
