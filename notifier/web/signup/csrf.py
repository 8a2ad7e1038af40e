"""CSRF protection for the sign-up forms: a signed double-submit token.

The page sets a random nonce in a cookie (``SameSite=Lax``, ``HttpOnly``) and puts the same
nonce, signed with the web secret and timestamped, into a hidden form field. A POST passes
only when the field's signature is ours, it is not too old, and the nonce inside matches the
cookie. Another site can make a browser post the form, but it can neither read the cookie nor
forge the signature, so it cannot produce a matching pair. Nothing is stored on the server.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets

from itsdangerous import BadData, URLSafeTimedSerializer

__all__ = ["COOKIE", "FIELD", "CsrfGuard"]

COOKIE = "notifier_csrf"
FIELD = "csrf_token"
_SALT = "notifier.web.signup.csrf.v1"


class CsrfGuard:
    def __init__(self, secret: str, *, max_age: dt.timedelta = dt.timedelta(hours=4)) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT)
        self._max_age = int(max_age.total_seconds())

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(18)

    def token_for(self, nonce: str) -> str:
        return str(self._serializer.dumps(nonce))

    def check(self, cookie: str | None, token: str | None) -> bool:
        """True when ``token`` is our signature over the nonce in ``cookie``."""
        if not cookie or not token or len(token) > 200:
            return False
        try:
            nonce = self._serializer.loads(token, max_age=self._max_age)
        except BadData:
            return False
        return isinstance(nonce, str) and hmac.compare_digest(nonce, cookie)
