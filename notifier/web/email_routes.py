"""Email web routes: one-click unsubscribe (RFC 8058) and the double opt-in confirmation.

* ``GET /u/{token}``: a page asking "Stop the appointment emails?" with one big button. It
  changes nothing, because virus scanners and mail programs open every link of an email.
* ``POST /u/{token}``: opts the subscriber out (and cancels what is queued) and answers 200.
  Mail programs post ``List-Unsubscribe=One-Click`` when the reader presses their own
  unsubscribe button (RFC 8058); the page's button posts the same. Repeating it is harmless.
* ``GET /confirm/{token}`` shows a "Start the emails?" page; ``POST /confirm/{token}``
  confirms the sign-up (``subscribers.confirm``). Confirming on GET would let a link scanner
  confirm a subscription nobody asked for.

Tokens of ``/u/`` are signed (``notifier.messaging.unsubscribe_tokens``) and bound to one
subscriber and the email channel. Bad input never yields a 500: an edited or foreign token
-> 400 "does not work", an expired one -> 400 "too old", a subscriber who no longer exists
-> 404, a database outage -> 503. Pages are large type, in the subscriber's language (else
the browser's).
"""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from notifier.config import Config
from notifier.db import subscribers, write_transaction
from notifier.messaging.render import normalize_locale, render
from notifier.messaging.signed_links import (
    BadLink,
    ExpiredLink,
    make_manage_token,
    read_confirm_token,
)
from notifier.messaging.unsubscribe_tokens import (
    BadUnsubscribeToken,
    ExpiredUnsubscribeToken,
    UnsubscribeClaim,
    read_unsubscribe_token,
)
from notifier.web.edge import url_token
from notifier.web.openapi_docs import HTML, answers, form_body

__all__ = ["EMAIL_CHANNEL", "email_router", "is_one_click", "register_email_routes"]

log = logging.getLogger(__name__)

EMAIL_CHANNEL = "email"
ONE_CLICK = ("List-Unsubscribe", "One-Click")
MAX_BODY_BYTES = 16 * 1024  # a one-click POST is a few dozen bytes
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    # The token is in the URL: never hand it to another site as a Referer.
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
}

Clock = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _browser_locale(request: Request) -> str:
    header = request.headers.get("accept-language", "")
    return normalize_locale(header.split(",", 1)[0].split(";", 1)[0].strip() or None)


def _page(
    locale: str,
    kind: str,
    status: int = 200,
    *,
    action: str | None = None,
    fields: tuple[tuple[str, str], ...] = (),
    manage_url: str | None = None,
) -> HTMLResponse:
    body = render(
        "email",
        locale,
        "page.html",
        kind=kind,
        action=action,
        fields=fields,
        manage_url=manage_url,
    )
    return HTMLResponse(body, status_code=status, headers=_PAGE_HEADERS)


async def is_one_click(request: Request) -> bool:
    """True when the POST body carries ``List-Unsubscribe=One-Click`` (RFC 8058 allows an
    ``application/x-www-form-urlencoded`` or a ``multipart/form-data`` body)."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return False
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
        parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        if not parsed.is_multipart():
            return False
        for part in parsed.iter_parts():
            name = part.get_param("name", header="content-disposition")
            value = part.get_payload(decode=True)
            if name == ONE_CLICK[0] and isinstance(value, bytes) and value.strip() == b"One-Click":
                return True
        return False
    pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return ONE_CLICK in [(k.strip(), v.strip()) for k, v in pairs]


# ---------------------------------------------------------------------- storage steps


def _subscriber_locale(conn: Connection, claim: UnsubscribeClaim) -> str | None:
    """The subscriber's language, or None when the token names nobody we know."""
    found = subscribers.channel_and_locale(conn, claim.subscriber_id)
    if found is None or found[0] != claim.channel:
        return None
    return normalize_locale(found[1])


def _confirm_locale(conn: Connection, token: str) -> str | None:
    found = subscribers.locale_for_confirm_token(conn, token)
    return normalize_locale(found) if found is not None else None


# ---------------------------------------------------------------------- routes


def email_router(
    engine: Engine,
    *,
    secret: str,
    max_age: dt.timedelta | None = None,
    clock: Clock = _utcnow,
    manage_secret: str | None = None,
) -> APIRouter:
    """The routes above, verifying tokens with ``secret`` (the email channel's). With
    ``manage_secret`` (the web secret) the "confirmed" page links to the manage page."""
    router = APIRouter()

    def claim_for(token: str, request: Request) -> UnsubscribeClaim | HTMLResponse:
        try:
            claim = read_unsubscribe_token(secret, token, max_age=max_age)
        except ExpiredUnsubscribeToken:
            return _page(_browser_locale(request), "expired", 400)
        except BadUnsubscribeToken:
            return _page(_browser_locale(request), "bad_link", 400)
        if claim.channel != EMAIL_CHANNEL:
            return _page(_browser_locale(request), "bad_link", 400)
        return claim

    def lookup(claim: UnsubscribeClaim) -> str | None:
        with engine.connect() as conn:
            return _subscriber_locale(conn, claim)

    def opt_out(claim: UnsubscribeClaim) -> str | None:
        with write_transaction(engine) as conn:
            locale = _subscriber_locale(conn, claim)
            if locale is not None:
                subscribers.opt_out_ids(conn, [claim.subscriber_id], clock())
            return locale

    async def guarded(request: Request, step: Callable[[], Any]) -> Any:
        try:
            return await run_in_threadpool(step)
        except SQLAlchemyError:
            log.exception("email page %s: database error", request.url.path.split("/")[1])
            return _page(_browser_locale(request), "error", 503)

    @router.get("/u/{token}", response_class=HTMLResponse, responses=answers(HTML, 400, 404, 503))
    async def unsubscribe_page(token: str, request: Request) -> HTMLResponse:
        claim = claim_for(token, request)
        if isinstance(claim, HTMLResponse):
            return claim
        locale = await guarded(request, lambda: lookup(claim))
        if isinstance(locale, HTMLResponse):
            return locale
        if locale is None:
            return _page(_browser_locale(request), "unknown", 404)
        # A relative action: right behind a proxy that serves the app under a path prefix.
        return _page(locale, "unsubscribe", action=f"./{token}", fields=(ONE_CLICK,))

    @router.post(
        "/u/{token}",
        response_class=HTMLResponse,
        responses=answers(HTML, 400, 404, 503),
        openapi_extra=form_body({ONE_CLICK[0]: {"type": "string", "enum": [ONE_CLICK[1]]}}, []),
    )
    async def unsubscribe(token: str, request: Request) -> HTMLResponse:
        claim = claim_for(token, request)
        if isinstance(claim, HTMLResponse):
            return claim
        if not await is_one_click(request):
            return _page(_browser_locale(request), "bad_link", 400)
        locale = await guarded(request, lambda: opt_out(claim))
        if isinstance(locale, HTMLResponse):
            return locale
        if locale is None:
            return _page(_browser_locale(request), "unknown", 404)
        log.info("email subscriber %d unsubscribed by link", claim.subscriber_id)
        return _page(locale, "unsubscribed")

    def stored_token(token: str, request: Request) -> str | HTMLResponse:
        """The one-time token inside a signed link; a bare stored token (older emails) too.

        Only a token that can be one we issued is looked up (a NUL byte never reaches SQL)."""
        try:
            token = read_confirm_token(secret, token, max_age=max_age)
        except ExpiredLink:
            return _page(_browser_locale(request), "expired", 400)
        except BadLink:
            pass
        if not url_token(token):
            return _page(_browser_locale(request), "confirm_unknown", 404)
        return token

    @router.get(
        "/confirm/{token}", response_class=HTMLResponse, responses=answers(HTML, 400, 404, 503)
    )
    async def confirm_page(token: str, request: Request) -> HTMLResponse:
        link = token
        unwrapped = stored_token(token, request)
        if isinstance(unwrapped, HTMLResponse):
            return unwrapped
        token = unwrapped
        locale = await guarded(request, lambda: _read(engine, _confirm_locale, token))
        if isinstance(locale, HTMLResponse):
            return locale
        if locale is None:
            return _page(_browser_locale(request), "confirm_unknown", 404)
        return _page(locale, "confirm", action=f"./{link}")

    @router.post(
        "/confirm/{token}", response_class=HTMLResponse, responses=answers(HTML, 400, 404, 503)
    )
    async def confirm(token: str, request: Request) -> HTMLResponse:
        unwrapped = stored_token(token, request)
        if isinstance(unwrapped, HTMLResponse):
            return unwrapped
        token = unwrapped

        def step() -> tuple[str, int] | None:
            with write_transaction(engine) as conn:
                locale = _confirm_locale(conn, token)
                confirmed = subscribers.confirm(conn, token, clock()) if locale else None
                if locale is None or confirmed is None:
                    return None
                return locale, confirmed

        done = await guarded(request, step)
        if isinstance(done, HTMLResponse):
            return done
        if done is None:
            return _page(_browser_locale(request), "confirm_unknown", 404)
        locale, subscriber_id = done
        manage_url = None
        if manage_secret:
            # Relative to /confirm/<token>: right behind a proxy that adds a path prefix.
            manage_token = make_manage_token(manage_secret, subscriber_id, EMAIL_CHANNEL)
            manage_url = f"../manage/{manage_token}"
        return _page(locale, "confirmed", manage_url=manage_url)

    return router


def _read(engine: Engine, query: Callable[[Connection, str], str | None], token: str) -> Any:
    with engine.connect() as conn:
        return query(conn, token)


def register_email_routes(
    app: FastAPI, engine: Engine, config: Config | None, clock: Clock | None = None
) -> None:
    """Add the routes when ``config`` enables the email channel (else do nothing)."""
    if config is None:
        return
    channels = config.enabled_channels()
    if EMAIL_CHANNEL not in channels:
        return
    from channels.email import EmailSettings

    settings = EmailSettings.model_validate(channels[EMAIL_CHANNEL].settings)
    web_secret = config.web.secret_key.get_secret_value() if config.web.secret_key else ""
    router = email_router(
        engine,
        secret=settings.secret.get_secret_value(),
        max_age=settings.link_max_age,
        clock=clock or _utcnow,
        manage_secret=web_secret if len(web_secret) >= 16 and config.web.signup.enabled else None,
    )
    app.include_router(router)
