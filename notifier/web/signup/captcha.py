"""An optional CAPTCHA check on sign-up (off by default).

A verifier is any ``async (response, remote_ip) -> bool``. ``siteverify_checker`` builds one
for the common "siteverify" protocol (hCaptcha, Cloudflare Turnstile, reCAPTCHA): POST the
secret and the widget's response, read ``{"success": true}``. An unreachable verifier counts
as a failed check (the person is asked to try again) rather than letting every bot through.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import aiohttp

__all__ = ["CaptchaVerifier", "siteverify_checker"]

log = logging.getLogger(__name__)

CaptchaVerifier = Callable[[str, str], Awaitable[bool]]


def siteverify_checker(url: str, secret: str, *, timeout: float = 5.0) -> CaptchaVerifier:
    async def verify(response: str, remote_ip: str) -> bool:
        if not response:
            return False
        form = {"secret": secret, "response": response, "remoteip": remote_ip}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
                session.post(url, data=form) as answer,
            ):
                document = await answer.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("captcha verifier unreachable: %s", type(exc).__name__)
            return False
        return isinstance(document, dict) and document.get("success") is True

    return verify
