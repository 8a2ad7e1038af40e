"""The resident's side of the web app: sign-up, manage and leave pages, and the admin API.

``register(app, engine, config)`` adds them; ``notifier.web.app`` calls it. The pages need
``web.secret_key`` (CSRF tokens and manage links are signed with it); without it they are
left out and a warning says why.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from fastapi import FastAPI
from sqlalchemy import Engine

from notifier.config import Config
from notifier.web.signup.captcha import CaptchaVerifier, siteverify_checker
from notifier.web.signup.forms import FormRules
from notifier.web.signup.limits import signup_limiters
from notifier.web.signup.routes import SignupPages
from notifier.web.signup.writer import SignupWriter

__all__ = ["register"]

log = logging.getLogger(__name__)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def register(
    app: FastAPI,
    engine: Engine,
    config: Config,
    clock: Callable[[], dt.datetime] | None = None,
    *,
    captcha: CaptchaVerifier | None = None,
) -> SignupPages | None:
    """Add the sign-up pages and (with ``web.admin_token``) the admin API to ``app``."""
    clock = clock or _utcnow
    web = config.web
    settings = web.signup
    if web.admin_token is not None and web.admin_token.get_secret_value():
        from notifier.web.signup.admin import register_admin

        register_admin(
            app,
            engine,
            token=web.admin_token.get_secret_value(),
            settings=settings,
            clock=clock,
        )
    off = web.resident_pages_off()
    if off is not None:
        if settings.enabled:
            log.warning("sign-up and manage pages are off: %s", off)
        return None
    assert web.secret_key is not None  # resident_pages_off checked it
    secret = web.secret_key.get_secret_value()
    if captcha is None and settings.captcha_verify_url and settings.captcha_secret:
        captcha = siteverify_checker(
            settings.captcha_verify_url, settings.captcha_secret.get_secret_value()
        )
    enabled = config.enabled_channels()
    countries = settings.sms_countries if "sms" in enabled else []
    limiters = signup_limiters(engine, settings, secret)
    pages = SignupPages(
        engine=engine,
        secret=secret,
        rules=FormRules(
            sms_countries=tuple(c.upper() for c in countries),
            channels=tuple(c for c in ("sms", "email") if c in enabled),
            max_radius_miles=settings.max_radius_miles,
            eligibility_groups=tuple(settings.eligibility_groups),
        ),
        writer=SignupWriter(engine, clock=clock),
        per_ip=limiters.per_ip,
        per_prefix=limiters.per_prefix,
        captcha=captcha,
        captcha_site_key=settings.captcha_site_key,
        clock=clock,
        secure_cookie=web.public_url.startswith("https://"),
    )
    pages.register(app)
    app.router.add_event_handler("shutdown", limiters.aclose)
    app.state.signup = pages
    return pages
