"""The resident's pages: ``/signup``, ``/manage/{token}`` and leaving.

* ``GET /signup`` shows the form (``?lang=de`` or the browser's language) and sets the CSRF
  cookie; ``POST /signup`` checks, in this order, size, CSRF, the per-IP limit, the optional
  CAPTCHA, the form, the per-phone-prefix limit, then stores the sign-up through the
  group-commit writer and answers "check your phone / inbox" only after the commit.
* ``GET/POST /manage/{token}``: change area, filters, eligibility group, digest and quiet
  hours; ``POST /manage/{token}/leave`` unsubscribes. The token is signed (web secret) and
  names one subscriber, so nobody can manage someone else's subscription.

Every rejection is a 4xx page in the person's language that says what to do: 400 for the
form, 403 for CSRF, 404 for a link that names nobody, 413 for an oversized body, 429 for rate
limits (with ``Retry-After``), 503 when the writer is overloaded.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from notifier.db import signups, subscribers, write_transaction
from notifier.geo import lookup_postal_code, stored_postal_country
from notifier.messaging.eligibility import group_label
from notifier.messaging.render import normalize_locale, postal_country, radius_field, render
from notifier.messaging.signed_links import BadLink, read_manage_token
from notifier.privacy import mask
from notifier.web.signup.captcha import CaptchaVerifier
from notifier.web.signup.csrf import COOKIE, FIELD, CsrfGuard
from notifier.web.signup.forms import (
    AGE_GROUPS,
    PRODUCTS,
    FormProblem,
    FormRules,
    phone_prefix,
    read_preferences,
    read_signup,
)
from notifier.web.signup.limits import SignupLimiter, minutes
from notifier.web.signup.messages import say
from notifier.web.signup.writer import SignupWriter

__all__ = ["SignupPages"]

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 8 * 1024
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@dataclass(eq=False)  # hashed by identity: ``_done_page`` caches per instance
class SignupPages:
    """Everything the pages need; ``register`` adds the routes to an app."""

    engine: Engine
    secret: str
    rules: FormRules
    writer: SignupWriter
    per_ip: SignupLimiter
    per_prefix: SignupLimiter
    captcha: CaptchaVerifier | None = None
    captcha_site_key: str | None = None
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    secure_cookie: bool = False

    def __post_init__(self) -> None:
        self.csrf = CsrfGuard(self.secret)

    # ------------------------------------------------------------------ rendering

    def _groups(self, locale: str) -> list[tuple[str, str]]:
        return [(g, group_label(g, locale)) for g in self.rules.eligibility_groups]

    def _html(
        self, locale: str, name: str, status: int = 200, nonce: str | None = None, **context: Any
    ) -> HTMLResponse:
        if nonce is not None:
            context["csrf_token"] = self.csrf.token_for(nonce)
        body = render("web", locale, name, **context)
        response = HTMLResponse(body, status_code=status, headers=_HEADERS)
        if nonce is not None:
            response.set_cookie(
                COOKIE, nonce, httponly=True, samesite="lax", secure=self.secure_cookie
            )
        return response

    def message(self, locale: str, heading: str, body: str, status: int) -> HTMLResponse:
        return self._html(locale, "message.html", status, heading=heading, body=body)

    def problem(
        self, locale: str, code: str, status: int, headers: dict[str, str] | None = None, **kw: Any
    ) -> HTMLResponse:
        heading = render("web", locale, "title.txt", key="error_title")
        response = self.message(locale, heading, say(code, locale, **kw), status)
        response.headers.update(headers or {})
        return response

    def signup_form(
        self,
        locale: str,
        *,
        status: int = 200,
        problems: list[FormProblem] | None = None,
        values: dict[str, str] | None = None,
        chosen_products: list[str] | None = None,
        nonce: str | None = None,
    ) -> HTMLResponse:
        return self._html(
            locale,
            "signup.html",
            status,
            nonce=nonce or self.csrf.new_nonce(),
            problems=problems or [],
            values=values or {},
            groups=self._groups(locale),
            products=PRODUCTS,
            age_groups=AGE_GROUPS,
            chosen_products=chosen_products or [],
            max_radius=radius_field(self.rules.max_radius_miles, locale),
            captcha_site_key=self.captcha_site_key,
            action="signup",
        )

    # ------------------------------------------------------------------ request checks

    async def read_form(self, request: Request) -> dict[str, list[str]] | None:
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return None
        return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)

    def csrf_ok(self, request: Request, form: dict[str, list[str]]) -> bool:
        token = (form.get(FIELD) or [""])[0]
        return self.csrf.check(request.cookies.get(COOKIE), token)

    # ------------------------------------------------------------------ routes

    def register(self, app: FastAPI) -> None:
        app.add_api_route("/signup", self.get_signup, methods=["GET"], response_class=HTMLResponse)
        app.add_api_route(
            "/signup", self.post_signup, methods=["POST"], response_class=HTMLResponse
        )
        app.add_api_route(
            "/manage/{token}", self.get_manage, methods=["GET"], response_class=HTMLResponse
        )
        app.add_api_route(
            "/manage/{token}", self.post_manage, methods=["POST"], response_class=HTMLResponse
        )
        app.add_api_route(
            "/manage/{token}/leave", self.post_leave, methods=["POST"], response_class=HTMLResponse
        )
        app.router.add_event_handler("startup", _load_postal_codes)
        app.router.add_event_handler("shutdown", self.writer.aclose)

    async def get_signup(self, request: Request) -> HTMLResponse:
        return self.signup_form(page_locale(request))

    async def post_signup(self, request: Request) -> HTMLResponse:
        form = await self.read_form(request)
        if form is None:
            return self.problem(page_locale(request), "too_large", 413)
        locale = page_locale(request, (form.get("lang") or [""])[0])
        if not self.csrf_ok(request, form):
            return self.problem(locale, "csrf", 403)
        ip = request.client.host if request.client else "unknown"
        wait = await self.per_ip.take(ip)
        if wait:
            return self.problem(
                locale, "rate_ip", 429, {"Retry-After": str(int(wait) + 1)}, minutes=minutes(wait)
            )
        if self.captcha is not None:
            answer = (form.get("captcha_response") or [""])[0][:4096]
            if not await self.captcha(answer, ip):
                return self.problem(locale, "captcha", 400)
        nonce = request.cookies.get(COOKIE)
        read = read_signup(form, locale, self.rules)
        if isinstance(read, list):
            values = {k: v[0][:200] for k, v in form.items() if k != FIELD and v}
            return self.signup_form(
                locale,
                status=400,
                problems=read,
                values=values,
                chosen_products=form.get("products", [])[:10],
                nonce=nonce,
            )
        if read.channel == "sms":
            wait = await self.per_prefix.take(phone_prefix(read.address))
            if wait:
                return self.problem(
                    locale,
                    "rate_phone",
                    429,
                    {"Retry-After": str(int(wait) + 1)},
                    minutes=minutes(wait),
                )
        try:
            outcome = await self.writer.submit(read)
        except (asyncio.QueueFull, SQLAlchemyError):
            return self.problem(locale, "busy", 503, {"Retry-After": "30"})
        except ValueError:  # the offline postal data and the form disagree: ask again
            problem = FormProblem("postal_code", say("postal_code", locale, given=read.postal_code))
            return self.signup_form(locale, status=400, problems=[problem], nonce=nonce)
        log.info("web sign-up %s by %s: %s", mask(read.address), read.channel, outcome.status)
        return HTMLResponse(self._done_page(locale, read.channel), headers=_HEADERS)

    @functools.cache  # noqa: B019 - a handful of (language, channel) pages, for the app's life
    def _done_page(self, locale: str, channel: str) -> bytes:
        """The "check your phone / inbox" page: the same for everyone, rendered once."""
        key = "done_sms" if channel == "sms" else "done_email"
        heading = render("web", locale, "title.txt", key="done_title")
        body = render("web", locale, "title.txt", key=key)
        return render("web", locale, "message.html", heading=heading, body=body).encode()

    # ------------------------------------------------------------------ manage

    def _claim(self, token: str) -> tuple[int, str] | None:
        try:
            return read_manage_token(self.secret, token)
        except BadLink:
            return None

    def _load(self, subscriber_id: int) -> subscribers.SubscriberRow | None:
        with self.engine.connect() as conn:
            return signups.load_subscriber(conn, subscriber_id)

    async def _subscriber(
        self, token: str, request: Request
    ) -> subscribers.SubscriberRow | HTMLResponse:
        claim = self._claim(token)
        if claim is None:
            return self.problem(page_locale(request), "bad_link", 400)
        row = await run_in_threadpool(self._load, claim[0])
        if row is None or row.channel != claim[1]:
            return self.problem(page_locale(request), "unknown_subscriber", 404)
        return row

    async def _manage_form(
        self, token: str, request: Request
    ) -> tuple[subscribers.SubscriberRow, str, dict[str, list[str]]] | HTMLResponse:
        """A POST to a manage link: its subscriber, their language and the checked form."""
        row = await self._subscriber(token, request)
        if isinstance(row, HTMLResponse):
            return row
        locale = normalize_locale(row.locale)
        form = await self.read_form(request)
        if form is None:
            return self.problem(locale, "too_large", 413)
        if not self.csrf_ok(request, form):
            return self.problem(locale, "csrf", 403)
        return row, locale, form

    def manage_page(
        self,
        row: subscribers.SubscriberRow,
        token: str,
        *,
        status: int = 200,
        problems: list[FormProblem] | None = None,
        saved: bool = False,
        nonce: str | None = None,
    ) -> HTMLResponse:
        locale = normalize_locale(row.locale)
        return self._html(
            locale,
            "manage.html",
            status,
            nonce=nonce or self.csrf.new_nonce(),
            problems=problems or [],
            saved=saved,
            sub=row,
            groups=self._groups(locale),
            products=PRODUCTS,
            age_groups=AGE_GROUPS,
            max_radius=radius_field(self.rules.max_radius_miles, locale),
            radius=radius_field(row.radius_miles or 10.0, locale),
            # Relative to /manage/<token>: right behind a proxy that adds a path prefix.
            action=f"./{token}",
            leave_action=f"./{token}/leave",
        )

    async def get_manage(self, token: str, request: Request) -> HTMLResponse:
        row = await self._subscriber(token, request)
        if isinstance(row, HTMLResponse):
            return row
        return self.manage_page(row, token)

    async def post_manage(self, token: str, request: Request) -> HTMLResponse:
        checked = await self._manage_form(token, request)
        if isinstance(checked, HTMLResponse):
            return checked
        row, locale, form = checked
        # The country the stored postal code was read in (the same digits are a ZIP and a
        # PLZ); a new code is read there too.
        country = stored_postal_country(
            row.postal_code,
            lat=row.lat,
            lon=row.lon,
            phone=row.address if row.channel == "sms" else None,
            time_zone=row.time_zone,
            default=postal_country(locale),
        )
        prefs = read_preferences(form, locale, self.rules, country)
        nonce = request.cookies.get(COOKIE)
        if isinstance(prefs, list):
            return self.manage_page(row, token, status=400, problems=prefs, nonce=nonce)

        def save() -> subscribers.SubscriberRow | None:
            with write_transaction(self.engine) as conn:
                signups.update_preferences(conn, row.id, prefs)
                return signups.load_subscriber(conn, row.id)

        updated = await run_in_threadpool(save)
        if updated is None:
            return self.problem(locale, "unknown_subscriber", 404)
        return self.manage_page(updated, token, saved=True, nonce=nonce)

    async def post_leave(self, token: str, request: Request) -> HTMLResponse:
        checked = await self._manage_form(token, request)
        if isinstance(checked, HTMLResponse):
            return checked
        row, locale, _form = checked

        def leave() -> None:
            with write_transaction(self.engine) as conn:
                subscribers.opt_out_ids(conn, [row.id], self.clock())

        await run_in_threadpool(leave)
        log.info("subscriber %d left through the manage page", row.id)
        heading = render("web", locale, "title.txt", key="left_title")
        return self.message(
            locale, heading, render("web", locale, "title.txt", key="left_body"), 200
        )


async def _load_postal_codes() -> None:
    """Load the offline postal-code tables before the first sign-up needs them: the US table
    takes seconds to index, which would otherwise stall the event loop on the first POST."""
    await run_in_threadpool(lookup_postal_code, "02115", "US")
    await run_in_threadpool(lookup_postal_code, "10115", "DE")


def page_locale(request: Request, chosen: str | None = None) -> str:
    """The form's own language field, else ``?lang=``, else the browser's first language."""
    if chosen:
        return normalize_locale(chosen)
    query = request.query_params.get("lang")
    if query:
        return normalize_locale(query)
    header = request.headers.get("accept-language", "")
    return normalize_locale(header.split(",", 1)[0].split(";", 1)[0].strip() or None)
