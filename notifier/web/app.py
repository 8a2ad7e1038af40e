"""The FastAPI application factory.

``create_app(config)`` builds the app the service runs: ``/healthz`` and ``/metrics`` always,
the ``/b/{id}`` short links and the public pages, API and feeds (``notifier.web.public``) when
there is a database, and each enabled channel's webhooks. Channel engineers add their routes
here, next to ``register_sms_routes``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import FastAPI
from sqlalchemy import Engine

from notifier.config import Config
from notifier.db import make_engine
from notifier.web.limits import BodyLimitMiddleware
from notifier.web.metrics_routes import register_metrics
from notifier.web.public.health import register_health
from notifier.web.public.routes import register as register_public

if TYPE_CHECKING:
    from notifier.web.sms_routes import ManageLink

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(
    config: Config | None = None,
    *,
    engine: Engine | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> FastAPI:
    """The web app for ``config``; ``engine`` overrides ``config.database.url`` (tests).

    Without a config the app only answers ``/healthz`` (handy behind a load balancer check).
    """
    app = FastAPI(title="Appointment Notifier", docs_url=None, redoc_url=None)
    if config is not None:
        app.add_middleware(
            BodyLimitMiddleware,
            max_bytes=config.web.max_body_bytes,
            timeout=config.web.body_timeout,
        )
    else:
        app.add_middleware(BodyLimitMiddleware)
    if engine is None and config is not None:
        engine = make_engine(config.database.url, **config.database.engine_options())
    app.state.engine = engine
    app.state.config = config

    register_health(app, engine, config, clock)
    register_metrics(app, engine, config)
    if engine is not None:
        multi_node = config is not None and config.engine == "procrastinate"
        if multi_node and engine.dialect.name == "postgresql":
            _defer_notice_jobs(app, engine)
        signup_url = _register_routes(app, engine, config, clock)
        # The residents' front door: published pages, API, feeds (notifier/web/public).
        register_public(app, engine, config, clock, signup_url=signup_url)
    return app


def _defer_notice_jobs(app: FastAPI, engine: Engine) -> None:
    """Multi-node mode: a sign-up's confirmation (or a group opened through the admin API)
    defers the workers' notices job in the transaction that queues it, so it goes out at once
    instead of at the next tick."""
    from notifier.pipeline.engine_procrastinate import notice_deferral

    stop = notice_deferral(engine)
    app.router.add_event_handler("shutdown", stop)


def _register_routes(
    app: FastAPI,
    engine: Engine,
    config: Config | None,
    clock: Callable[[], dt.datetime] | None,
) -> str | None:
    """Add the dynamic routes; returns the sign-up page's path when sign-up is on."""
    from notifier.web.email_routes import register_email_routes
    from notifier.web.sms_routes import register_short_links, register_sms_routes

    register_short_links(app, engine)
    if config is None:
        return None
    register_email_routes(app, engine, config, clock)
    from notifier.web import signup

    pages = signup.register(app, engine, config, clock)
    channels = config.enabled_channels()
    if "sms" in channels:
        from channels.sms import SmsSettings

        sms = SmsSettings.model_validate(channels["sms"].settings)
        extra = {"clock": clock} if clock is not None else {}
        register_sms_routes(
            app,
            engine,
            auth_token=sms.auth_token.get_secret_value(),
            base_url=sms.base_url,
            manage_link=_sms_manage_link(config, pages is not None),
            **extra,
        )
    return "/signup" if pages is not None else None


def _sms_manage_link(config: Config, pages_served: bool) -> ManageLink | None:
    """What MANAGE texts link to, or None (and a warning why) when they cannot have a link."""
    from notifier.web.sms_routes import manage_link_for, manage_links_off

    off = manage_links_off(config.web) or (None if pages_served else "no manage pages")
    if off is not None or config.web.secret_key is None:
        log.warning("texts answer MANAGE without a link to the manage page: %s", off)
        return None
    return manage_link_for(config.web.public_url, config.web.secret_key.get_secret_value())
