"""Signed links of the sign-up side: the manage page and the email confirmation.

* A manage token names one subscriber of one channel (like an unsubscribe token, with its own
  salt, so one kind of token can never pass as the other). Whoever holds the link may change
  that subscription, which is why it only ever travels to the subscriber's own address.
* A short manage token (``s123.<16 characters>``) says the same in a form that fits a text
  message: the subscriber's id and a 96-bit HMAC, no timestamp. ``read_manage_token`` takes
  either form, so ``/manage/{token}`` opens both.
* A confirmation token wraps the random one-time token stored on the subscriber, so an edited
  or very old link is told apart from one that was already used.

Reading never raises anything but ``BadLink`` (or its subclass ``ExpiredLink``).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import re

from itsdangerous import BadData, SignatureExpired, Signer, URLSafeTimedSerializer
from itsdangerous.signer import SigningAlgorithm

__all__ = [
    "SHORT_MANAGE_TOKEN_MAX_LENGTH",
    "BadLink",
    "ExpiredLink",
    "make_confirm_token",
    "make_manage_token",
    "make_short_manage_token",
    "read_confirm_token",
    "read_manage_token",
]

_MANAGE_SALT = "notifier.messaging.signed_links.manage.v1"
_CONFIRM_SALT = "notifier.messaging.signed_links.confirm.v1"
_SHORT_MANAGE_SALT = "notifier.messaging.signed_links.manage-short.v1"
_MIN_SECRET_LENGTH = 16
# 96 bits cannot be guessed over HTTP, and print as 16 URL-safe characters: the whole token
# stays under 30 characters, so a manage link leaves most of a 160-character text for words.
_SHORT_SIGNATURE_BYTES = 12
_SHORT_CHANNELS = {"sms": "s", "email": "e"}
_SHORT_CODES = {code: channel for channel, code in _SHORT_CHANNELS.items()}
#: the longest short token: channel letter, a 10-digit id, the dot, 16 signature characters
SHORT_MANAGE_TOKEN_MAX_LENGTH = 1 + 10 + 1 + 16
_SHORT_TOKEN = re.compile(r"[a-z][1-9][0-9]{0,9}\.[A-Za-z0-9_-]{16}")


class BadLink(ValueError):
    """Not signed by us, edited, or not a token at all."""


class ExpiredLink(BadLink):
    """Signed by us but older than allowed."""


@functools.lru_cache(maxsize=16)
def _serializer(secret: str, salt: str) -> URLSafeTimedSerializer:
    if len(secret) < _MIN_SECRET_LENGTH:
        raise ValueError(f"the signing secret must have at least {_MIN_SECRET_LENGTH} characters")
    return URLSafeTimedSerializer(secret, salt=salt)


class _TruncatedHmac(SigningAlgorithm):
    """HMAC-SHA256 cut to ``_SHORT_SIGNATURE_BYTES`` (itsdangerous compares in constant time)."""

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hmac.new(key, value, hashlib.sha256).digest()[:_SHORT_SIGNATURE_BYTES]


@functools.lru_cache(maxsize=16)
def _short_signer(secret: str) -> Signer:
    if len(secret) < _MIN_SECRET_LENGTH:
        raise ValueError(f"the signing secret must have at least {_MIN_SECRET_LENGTH} characters")
    return Signer(
        secret,
        salt=_SHORT_MANAGE_SALT,
        key_derivation="hmac",
        digest_method=hashlib.sha256,
        algorithm=_TruncatedHmac(),
    )


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


def make_short_manage_token(secret: str, subscriber_id: int, channel: str) -> str:
    """A manage token short enough for a text (``s123.AbCdEfGhIjKlMnOp``); it has no time."""
    value = f"{_SHORT_CHANNELS[channel]}{int(subscriber_id)}"
    return _short_signer(secret).sign(value).decode("ascii")


def _read_short_manage_token(secret: str, token: str) -> tuple[int, str]:
    try:
        value = _short_signer(secret).unsign(token).decode("ascii")
    except BadData as exc:
        raise BadLink("the link is not valid") from exc
    return int(value[1:]), _SHORT_CODES[value[0]]


def read_manage_token(
    secret: str, token: str, *, max_age: dt.timedelta | None = None
) -> tuple[int, str]:
    """``(subscriber id, channel)`` of either form of manage token. A short token carries no
    time, so a caller that sets ``max_age`` refuses it."""
    if _SHORT_TOKEN.fullmatch(token) and token[0] in _SHORT_CODES:
        if max_age is not None:
            raise ExpiredLink("a short link carries no time to check its age against")
        return _read_short_manage_token(secret, token)
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
