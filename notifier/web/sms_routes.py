"""Twilio webhooks (delivery reports, inbound texts) and the ``/b/{alert_id}`` short links.

* ``POST /sms/status``: Twilio's status callback. A final status (delivered, undelivered,
  failed) is stored on the delivery with that MessageSid; an undelivered report saying the
  number cannot take texts (30005, 30006) marks the subscriber invalid.
* ``POST /sms/inbound``: texts people send. With a Messaging Service's Advanced Opt-Out,
  Twilio has already answered STOP/START/HELP and tells us via ``OptOutType``: we update the
  subscriber and return an empty TwiML response so Twilio's reply stands. Otherwise we answer
  ourselves. SUBSCRIBE <postal code> [radius] signs up (double opt-in: reply YES); the code
  is read in the country of the sender's number and the radius in the unit of the language
  (km in German). STATUS says what the number is subscribed to. MANAGE (VERWALTEN,
  GESTIONAR) answers an active subscriber with a short signed link to their own manage page
  (``/manage/{token}``), when the web app serves those pages at a public URL; otherwise it
  says how to change things by text. HELP never unsubscribes.
* ``GET /b/{alert_id}``: redirect to the alert's booking page (the SMS link).

Both webhooks accept only requests signed by Twilio for the configured public URL.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, RedirectResponse
from sqlalchemy import Connection, Engine
from twilio.twiml.messaging_response import MessagingResponse

from notifier.config import WebConfig
from notifier.db import outbox, subscribers, write_transaction
from notifier.geo import lookup_postal_code, normalize_postal_code
from notifier.messaging.gsm import SINGLE_GSM7, fits_one_segment, is_gsm7, to_gsm
from notifier.messaging.render import (
    KM_PER_MILE,
    distance_unit,
    normalize_locale,
    postal_country,
    render,
    shown_radius,
)
from notifier.messaging.signed_links import (
    SHORT_MANAGE_TOKEN_MAX_LENGTH,
    make_short_manage_token,
)
from notifier.privacy import mask
from notifier.web.edge import SenderNumber, clean_text, db_id, plain_token, sender_number
from notifier.web.openapi_docs import JSON_ERROR, TEXT, XML, answers, form_body
from notifier.web.sms_commands import (
    DEFAULT_RADIUS,
    MAX_RADIUS,
    Command,
    Intent,
    parse_command,
)
from notifier.web.twilio_forms import public_url, read_signed_form, require

__all__ = [
    "FINAL_STATUSES",
    "INVALID_NUMBER_CALLBACK_CODES",
    "SMS_CHANNEL",
    "ManageLink",
    "handle_command",
    "manage_link_for",
    "manage_links_off",
    "manage_reply",
    "register_short_links",
    "register_sms_routes",
]

log = logging.getLogger(__name__)

SMS_CHANNEL = "sms"
FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed"})
# Carrier reports that the number cannot receive texts at all (not "phone switched off").
INVALID_NUMBER_CALLBACK_CODES = frozenset({"30005", "30006"})  # unknown handset; landline
OPTED_OUT_CALLBACK_CODES = frozenset({"21610"})

Clock = Callable[[], dt.datetime]
#: subscriber id -> the URL of their manage page; None when the app serves no such page
ManageLink = Callable[[int], str]
MANAGE_PATH_LENGTH = len("/manage/")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _twiml(text: str | None) -> Response:
    reply = MessagingResponse()
    if text:
        reply.message(text)
    return Response(str(reply), media_type="application/xml")


def _say(locale: str, name: str, **context: Any) -> str:
    # Replies are texts too: transliterate so they stay GSM-7 (160 characters a segment).
    return to_gsm(render("sms", locale, name, **context))


def manage_links_off(web: WebConfig) -> str | None:
    """Why MANAGE cannot answer with a link (None: it can). The link needs the manage page,
    at an address a phone can open (the default public URL is this machine), short enough
    that the link alone fits one text."""
    off = web.resident_pages_off()
    if off is not None:
        return off
    if "public_url" not in web.model_fields_set:
        return f"web.public_url is not set (the default, {web.public_url}, is this machine)"
    base = web.public_url.rstrip("/")
    if not base.startswith(("https://", "http://")):
        return "web.public_url is not an http(s) URL"
    longest = MANAGE_PATH_LENGTH + SHORT_MANAGE_TOKEN_MAX_LENGTH
    if not is_gsm7(base) or len(base) + longest > SINGLE_GSM7:
        return (
            f"web.public_url is too long for a manage link in one text: at most "
            f"{SINGLE_GSM7 - longest} plain characters"
        )
    return None


def manage_link_for(public_url: str, secret: str) -> ManageLink:
    """Links to ``/manage/{short token}`` under ``public_url``, signed with the web secret."""
    base = public_url.rstrip("/")

    def link(subscriber_id: int) -> str:
        return f"{base}/manage/{make_short_manage_token(secret, subscriber_id, SMS_CHANNEL)}"

    return link


def manage_reply(locale: str, link: str) -> str:
    """The text carrying a manage link: worded if that fits one segment, else the bare link
    (a very long public URL); a link is never cut."""
    worded = _say(locale, "manage_link.txt", link=link)
    return worded if fits_one_segment(worded) else link


def _postal_country(sender: SenderNumber | None, locale: str) -> str:
    """Where a postal code texted by ``sender`` is: the country of the phone number, else
    the country of the language (a German text reads a PLZ), else the US."""
    if sender is not None and sender.country:
        return sender.country
    return postal_country(locale)


# ---------------------------------------------------------------------- storage steps


def _pending_token(conn: Connection, address: str) -> str | None:
    """The confirmation token of this number's sign-up (``SubscriberRow`` does not carry it)."""
    return subscribers.confirm_token_for(conn, SMS_CHANNEL, address)


def _opt_in_or_confirm(conn: Connection, address: str, now: dt.datetime) -> str:
    """START or YES: confirm a pending sign-up, else resume after STOP. Returns what happened:
    ``confirmed``, ``started``, ``active`` (nothing to do) or ``none`` (no subscriber)."""
    found = subscribers.find_by_address(conn, SMS_CHANNEL, address)
    if found is None:
        return "none"
    if found.confirmed_at is None or found.invalid_at is not None:
        token = _pending_token(conn, address)
        if token and subscribers.confirm(conn, token, now) is not None:
            return "confirmed"
        return "none"
    if found.opted_out_at is not None:
        subscribers.opt_in(conn, SMS_CHANNEL, address, now)
        return "started"
    return "active"


def _subscriptions(row: subscribers.SubscriberRow | None, locale: str) -> list[dict[str, Any]]:
    if row is None:
        return []
    return [
        {
            "postal_code": row.postal_code or row.region or "?",
            "radius": shown_radius(row.radius_miles, locale),
            "confirmed": row.confirmed_at is not None,
            "opted_out": row.opted_out_at is not None or row.invalid_at is not None,
        }
    ]


def handle_command(
    conn: Connection,
    sender: str,
    command: Command,
    now: dt.datetime,
    number: SenderNumber | None = None,
    manage_link: ManageLink | None = None,
) -> str:
    """Act on one inbound text and return the reply (in the sender's language).

    ``number`` is ``sender`` as read at the edge; its country tells how to read a postal code.
    ``manage_link`` makes manage-page links; without it MANAGE explains the keywords instead
    and no text mentions MANAGE.
    """
    found = subscribers.find_by_address(conn, SMS_CHANNEL, sender)
    locale = normalize_locale(command.language or (found.locale if found else None))
    who = mask(sender)
    if command.intent is Intent.STOP:
        subscribers.opt_out(conn, SMS_CHANNEL, sender, now)
        log.info("sms %s: opted out (%s)", who, command.keyword)
        return _say(locale, "stopped.txt")
    manage = manage_link is not None
    if command.intent is Intent.HELP or command.intent is Intent.UNKNOWN:
        # HELP informs; it never changes a subscription
        return _say(locale, "help.txt", manage=manage)
    if command.intent is Intent.STATUS:
        return _say(locale, "status.txt", subscriptions=_subscriptions(found, locale))
    if command.intent is Intent.MANAGE:
        return _manage(found, locale, manage_link, who)
    if command.intent in (Intent.START, Intent.YES):
        outcome = _opt_in_or_confirm(conn, sender, now)
        log.info("sms %s: %s -> %s", who, command.keyword, outcome)
        if outcome == "confirmed" or (outcome == "active" and command.intent is Intent.YES):
            row = subscribers.find_by_address(conn, SMS_CHANNEL, sender)
            assert row is not None
            radius = shown_radius(row.radius_miles, locale)
            return _say(
                locale, "confirmed.txt", postal_code=row.postal_code, radius=radius, manage=manage
            )
        if outcome in ("started", "active"):
            return _say(locale, "started.txt")
        if command.intent is Intent.YES:
            return _say(locale, "nothing_to_confirm.txt")
        return _say(locale, "status.txt", subscriptions=[])
    country = _postal_country(number, locale)
    return _subscribe(conn, sender, command, locale, found, now, country, manage=manage)


def _manage(
    found: subscribers.SubscriberRow | None,
    locale: str,
    manage_link: ManageLink | None,
    who: str,
) -> str:
    """MANAGE: a link only to the page of this number's own active subscription; everyone
    else learns what to do first. The link is a credential: it never goes into a log."""
    if found is None or found.invalid_at is not None:
        return _say(locale, "status.txt", subscriptions=[])  # "text SUBSCRIBE <ZIP>"
    if manage_link is None:
        return _say(locale, "manage_by_text.txt")
    if found.opted_out_at is not None:
        return _say(locale, "manage_stopped.txt")  # the page cannot resume alerts; START can
    if found.confirmed_at is None:
        return _say(locale, "manage_pending.txt")
    log.info("sms %s: sent the manage link of subscriber %d", who, found.id)
    return manage_reply(locale, manage_link(found.id))


def _subscribe(
    conn: Connection,
    sender: str,
    command: Command,
    locale: str,
    found: subscribers.SubscriberRow | None,
    now: dt.datetime,
    country: str,
    *,
    manage: bool,
) -> str:
    typed = command.postal_code
    code = normalize_postal_code(typed, country) if typed and typed.isascii() else None
    place = lookup_postal_code(code, country) if code else None
    if code is None or place is None:
        return _say(locale, "bad_zip.txt", given=typed or "")
    # The radius is in the reader's unit unless typed with one ("10km"); replies use theirs.
    unit = distance_unit(locale)
    typed_unit = command.radius_unit or unit
    radius = command.radius if command.radius is not None else DEFAULT_RADIUS[typed_unit]
    if command.radius_given is not None or not 1 <= radius <= MAX_RADIUS[typed_unit]:
        given = command.radius_given or f"{radius}"
        return _say(locale, "bad_miles.txt", given=given, max_radius=MAX_RADIUS[unit])
    miles = radius / KM_PER_MILE if typed_unit == "km" else float(radius)
    was_active = found is not None and found.active
    subscribers.add_subscriber(
        conn,
        channel=SMS_CHANNEL,
        address=sender,
        postal_code=code,
        country=country,
        radius_miles=miles,
        locale=locale,
        now=now,
    )
    shown = shown_radius(miles, locale) if typed_unit != unit else f"{radius}"
    log.info("sms %s: signed up near %s %s (%s mi)", mask(sender), country, code, f"{miles:.1f}")
    if was_active:
        return _say(locale, "confirmed.txt", postal_code=code, radius=shown, manage=manage)
    return _say(locale, "confirm_request.txt", postal_code=code, radius=shown, city=place.city)


def _apply_opt_out_type(conn: Connection, sender: str, kind: str, now: dt.datetime) -> str:
    """Advanced Opt-Out: Twilio already replied; mirror its decision in our subscribers."""
    if kind == "STOP":
        subscribers.opt_out(conn, SMS_CHANNEL, sender, now)
        return "opted out"
    if kind == "START":
        return _opt_in_or_confirm(conn, sender, now)
    return "nothing to change"  # HELP, or a type Twilio adds later


def _record_status(
    conn: Connection, sid: str, status: str, error_code: str | None, now: dt.datetime
) -> int:
    updated = outbox.record_status_callback(conn, SMS_CHANNEL, sid, status)
    if status in ("undelivered", "failed") and error_code:
        ids = outbox.subscribers_of_message(conn, SMS_CHANNEL, sid)
        if ids and error_code in INVALID_NUMBER_CALLBACK_CODES:
            subscribers.mark_invalid(conn, ids, now)
        elif ids and error_code in OPTED_OUT_CALLBACK_CODES:
            subscribers.opt_out_ids(conn, ids, now)
    return updated


# ---------------------------------------------------------------------- routes


def register_sms_routes(
    app: FastAPI,
    engine: Engine,
    *,
    auth_token: str,
    base_url: str,
    clock: Clock = _utcnow,
    manage_link: ManageLink | None = None,
) -> None:
    """Add ``/sms/status`` and ``/sms/inbound``; ``base_url`` is the public URL Twilio calls.

    ``manage_link`` (``manage_link_for``) lets MANAGE answer with a link to the manage page;
    leave it out when the app serves no manage pages.
    """
    router = APIRouter(prefix="/sms", tags=["sms"])

    def write(func: Callable[..., Any], *args: Any) -> Any:
        with write_transaction(engine) as conn:
            return func(conn, *args)

    status_doc = answers(JSON_ERROR, 400, 403, 415)
    status_doc[204] = {"description": "Recorded"}
    status_form = form_body(
        {
            "MessageSid": {"type": "string"},
            "MessageStatus": {"type": "string"},
            "ErrorCode": {"type": "string"},
        },
        ["MessageSid", "MessageStatus"],
    )

    @router.post(
        "/status",
        status_code=204,
        response_class=Response,
        responses=status_doc,
        openapi_extra=status_form,
    )
    async def sms_status(request: Request) -> Response:
        form = await read_signed_form(request, auth_token, public_url(base_url, request))
        sid, status = require(form, "MessageSid", "MessageStatus")
        sid = plain_token(sid, "MessageSid", max_length=64)
        status = plain_token(status, "MessageStatus", max_length=32).lower()
        if status in FINAL_STATUSES:
            given_code = form.get("ErrorCode", "").strip()
            error_code = plain_token(given_code, "ErrorCode", max_length=12) if given_code else None
            updated = await run_in_threadpool(
                write, _record_status, sid, status, error_code, clock()
            )
            if not updated:
                log.info("sms status %s for unknown message %s", status, sid)
        return Response(status_code=204)

    inbound_doc = answers(JSON_ERROR, 400, 403, 415) | answers(XML, 200)
    inbound_form = form_body(
        {
            "From": {"type": "string", "pattern": "^\\+[1-9][0-9]{6,14}$"},
            "Body": {"type": "string", "maxLength": 1600},
            "MessageSid": {"type": "string"},
            "OptOutType": {"type": "string"},
        },
        ["From"],
    )

    @router.post(
        "/inbound", response_class=Response, responses=inbound_doc, openapi_extra=inbound_form
    )
    async def sms_inbound(request: Request) -> Response:
        form = await read_signed_form(request, auth_token, public_url(base_url, request))
        (raw_sender,) = require(form, "From")
        number = sender_number(raw_sender)
        sender = number.e164
        opt_out_type = form.get("OptOutType", "").strip().upper()
        if opt_out_type:
            opt_out_type = plain_token(opt_out_type, "OptOutType", max_length=20)
            outcome = await run_in_threadpool(
                write, _apply_opt_out_type, sender, opt_out_type, clock()
            )
            log.info("sms %s: Twilio OptOutType %s: %s", mask(sender), opt_out_type, outcome)
            return _twiml(None)
        body = clean_text(form.get("Body", ""), "Body", max_length=1600, multiline=True)
        command = parse_command(body)
        reply = await run_in_threadpool(
            write, handle_command, sender, command, clock(), number, manage_link
        )
        return _twiml(reply)

    app.include_router(router)


def register_short_links(app: FastAPI, engine: Engine) -> None:
    """Add ``GET /b/{alert_id}``: a redirect to the alert's booking page."""

    def booking_url(alert_id: int) -> str | bool | None:
        with engine.connect() as conn:
            alert = outbox.load_alerts(conn, [alert_id]).get(alert_id)
        return False if alert is None else alert.location.booking_url

    link_doc = answers(TEXT, 404) | {302: {"description": "Redirect to the booking page"}}

    async def short_link(alert_id: str) -> Response:
        number = db_id(alert_id)
        if number is None:
            return PlainTextResponse(f"{alert_id[:40]!r} is not an alert number.", 404)
        url = await run_in_threadpool(booking_url, number)
        if url is False:
            return PlainTextResponse(
                f"No alert {alert_id}: the link may be mistyped, or the alert was removed.", 404
            )
        if not isinstance(url, str) or not url.lower().startswith(("https://", "http://")):
            return PlainTextResponse(
                f"Alert {alert_id} has no booking link; book on the provider's own site.", 404
            )
        return RedirectResponse(url, status_code=302)

    for method in ("GET", "HEAD"):
        app.add_api_route(
            "/b/{alert_id}",
            short_link,
            methods=[method],
            status_code=302,
            response_class=Response,
            responses=link_doc,
            operation_id=f"short_link_{method.lower()}",
        )
