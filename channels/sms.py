"""SMS through Twilio: one GSM-7 segment per alert, sent with the official ``twilio`` library.

The message says how many appointments, where, on which days, and gives a short link
(``{base_url}/b/{alert_id}``, redirected by the web app) so the text fits one 160-character
segment. Characters GSM-7 lacks are transliterated first ("–" -> "-", "ó" -> "o"); text that
still needs UCS-2 (a place name in another script) is fitted into 70 characters instead.
A message is made shorter, never split: a second segment doubles the bill for a million texts.

Twilio's answers map onto the dispatcher's outcomes:

* 21610 (the recipient replied STOP)      -> failed, recipient opted out (never retried)
* 21211, 21614 (not a valid mobile number) -> failed, recipient invalid
* HTTP 429 or error 20429 (too many requests) -> retry, after ``Retry-After`` when given
* HTTP 5xx, timeouts, connection errors  -> retry
* 401/403 (our credentials are wrong)    -> retry: the operator's mistake must not use up
  every recipient's delivery
* any other 4xx                          -> failed
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import dataclasses
import datetime as dt
import functools
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client as TwilioClient

from notifier.channel import (
    Audience,
    Channel,
    ChannelLimit,
    Message,
    RateLimit,
    Recipient,
    RecipientState,
    SendResult,
)
from notifier.http_rules import parse_retry_after
from notifier.messaging.gsm import (
    SINGLE_GSM7,
    fit,
    fits_one_segment,
    is_gsm7,
    single_segment_limit,
    sms_length,
    to_gsm,
)
from notifier.messaging.render import (
    SUPPORTED_LOCALES,
    AlertFacts,
    alert_facts,
    normalize_locale,
    render,
)
from notifier.model import MAX_DB_INT, Alert, Location
from notifier.policies import raise_broken_rules
from notifier.privacy import mask, mask_text

__all__ = [
    "INVALID_NUMBER_CODES",
    "OPTED_OUT_CODES",
    "RATE_LIMITED_CODES",
    "SmsChannel",
    "SmsSettings",
    "base_url_problem",
    "classify_twilio_error",
    "fit_sms",
    "longest_base_url",
    "sender_rate_limit",
    "short_link",
]

log = logging.getLogger(__name__)

OPTED_OUT_CODES = frozenset({21610})  # "Attempt to send to unsubscribed recipient"
INVALID_NUMBER_CODES = frozenset({21211, 21614})  # invalid 'To' number; not a mobile number
RATE_LIMITED_CODES = frozenset({20429})  # "Too Many Requests"
AUTH_STATUSES = frozenset({401, 403})

# The Retry-After header of the response being handled, per task: the twilio library turns
# an error response into an exception that keeps no headers.
_retry_after: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "twilio_retry_after", default=None
)


class SmsSettings(BaseModel):
    """``channels.sms.settings`` in config.yaml."""

    model_config = ConfigDict(extra="forbid")

    account_sid: str = Field(pattern=r"^AC[0-9a-zA-Z]{32}$")
    auth_token: SecretStr
    #: send through a Messaging Service (sender pool, Advanced Opt-Out) ...
    messaging_service_sid: str | None = Field(None, pattern=r"^MG[0-9a-zA-Z]{32}$")
    #: ... or from one number (E.164) or short code: exactly one of the two
    from_number: str | None = Field(None, pattern=r"^(\+[1-9]\d{6,14}|\d{3,8})$")
    #: public URL of the status-callback route, e.g. https://alerts.example.org/sms/status
    status_callback_url: str | None = None
    #: public base URL of the web app; short links are ``{base_url}/b/{alert_id}``
    base_url: str = Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    #: 1/s for a US long code; ~100/s for a short code; toll-free numbers start near 3/s
    messages_per_second: float = Field(1.0, gt=0)
    #: Twilio's API; tests point it at notifier.testing.twilio_stub
    api_base_url: str = "https://api.twilio.com"
    timeout: float = Field(10.0, gt=0)
    max_connections: int = Field(50, ge=1)

    @model_validator(mode="after")
    def _one_sender(self) -> SmsSettings:
        if (self.messaging_service_sid is None) == (self.from_number is None):
            raise ValueError(
                "set exactly one of messaging_service_sid (MG...) and from_number (+1...)"
            )
        return self

    @model_validator(mode="after")
    def _links_stay_whole(self) -> SmsSettings:
        problem = base_url_problem(self.base_url)
        if problem is not None:
            raise_broken_rules("SmsSettings", [(("base_url",), *problem)], self)
        return self


def sender_rate_limit(messages_per_second: float) -> RateLimit:
    """The token bucket for a sender: ``messages_per_second`` with small bursts.

    Below 10/s the bucket refills once a second (1/s -> 1 per 1 s, 3/s -> 3 per 1 s); faster
    senders refill every ~0.1 s (100/s -> 10 per 0.1 s), so a short code never fires a
    whole second's worth at once and the rate holds over short spans too.
    """
    rate = messages_per_second
    count = max(1, round(rate / 10)) if rate >= 10 else max(1, round(rate))
    return RateLimit(count, count / rate)


def short_link(base_url: str, alert_id: int) -> str:
    """``https://alerts.example.org/b/123``: short enough to leave room for the facts."""
    return f"{base_url.rstrip('/')}/b/{alert_id}"


# Ever shorter renderings, tried in order until one fits a single segment.
_FALLBACKS: tuple[dict[str, bool], ...] = (
    {},
    {"with_footer": False},
    {"with_footer": False, "with_products": False},
    {"with_footer": False, "with_products": False, "with_city": False},
    {"with_footer": False, "with_products": False, "with_city": False, "with_dates": False},
)


_EPOCH = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
#: the largest count an alert is measured with when the room for its link is computed: no
#: one place opens ten million appointments (the 2021 Massachusetts morning was 70,000)
LARGEST_COUNT = 9_999_999


def _last_resort(locale: str, link: str) -> str:
    """The shortest text ``fit_sms`` makes of the longest alert before it cuts the link:
    every detail dropped and the place name shortened to "...". (An SMS carries one alert,
    ``SmsChannel.max_batch``, so no "+N more".)"""
    texts = []
    for count in (LARGEST_COUNT, None):  # "9,999,999 appointments" or "Appointments open"
        location = Location(id="longest", name="...")
        alert = Alert(
            provider_id="longest",
            location=location,
            kind="opened",
            appointments=count,
            increase=count,
            by_date={},
            products=(),
            age_groups=(),
            detected_at=_EPOCH,
            expires_at=_EPOCH,
            id=MAX_DB_INT,
        )
        texts.append(_draw(alert_facts([alert]), locale, link, _FALLBACKS[-1]))
    return max(texts, key=sms_length)


def longest_base_url() -> int:
    """The longest ``base_url`` (GSM-7 characters, without a trailing ``/``) whose short
    links (``{base_url}/b/{alert id}``, the largest id) stay whole in every alert text, in
    every language: what one segment leaves around the link of the longest alert."""
    probe = "x"  # a link of one unit: an empty one would lose the space before it

    def room(locale: str) -> int:
        return SINGLE_GSM7 - (sms_length(_last_resort(locale, probe)) - len(probe))

    return min(room(locale) for locale in SUPPORTED_LOCALES) - len(short_link("", MAX_DB_INT))


def base_url_problem(base_url: str) -> tuple[str, str] | None:
    """Why alert texts would break links to ``base_url``, and the fix; None when they keep
    them whole (``notifier config check`` reports it at ``channels.sms.settings.base_url``)."""
    most = longest_base_url()
    if not is_gsm7(base_url):
        outside = "".join(dict.fromkeys(c for c in base_url if not is_gsm7(c)))
        problem = (
            f"has characters outside the GSM-7 alphabet ({outside}): texts would either "
            "change them (a broken link) or become UCS-2 texts of 70 characters (a cut link)"
        )
        return problem, f"write the host name in ASCII (punycode), at most {most} characters"
    link = short_link(base_url, MAX_DB_INT)
    cut = [loc for loc in SUPPORTED_LOCALES if not fits_one_segment(_last_resort(loc, link))]
    if not cut:
        return None
    base = base_url.rstrip("/")
    problem = (
        f"is {sms_length(base)} characters long: the text of a large opening would cut its "
        f"short link (base_url/b/<id>) to stay one SMS segment (in {', '.join(cut)})"
    )
    fix = (
        f"use a base URL of at most {most} characters (a shorter host name, or no path); "
        "the web app serves the short links at /b/<id>"
    )
    return problem, fix


def _draw(facts: AlertFacts, locale: str, link: str, flags: dict[str, bool]) -> str:
    return to_gsm(render("sms", locale, "alert.txt", facts=facts, link=link, **flags))


def fit_sms(facts: AlertFacts, locale: str, link: str) -> str:
    """The longest rendering of ``facts`` that fits one SMS segment (GSM-7 when possible)."""

    text = ""
    for flags in _FALLBACKS:
        text = _draw(facts, locale, link, flags)
        if fits_one_segment(text):
            return text
    # Still too long: the place name is the only free-form part left, so shorten it.
    flags = _FALLBACKS[-1]
    name = facts.place_name
    while name:
        over = sms_length(text) - single_segment_limit(text)
        name = name[: max(0, len(name) - over - 3)].rstrip()
        shortened = dataclasses.replace(facts, place_name=f"{name}..." if name else "...")
        text = _draw(shortened, locale, link, flags)
        if fits_one_segment(text):
            return text
    return fit(text)  # a link longer than a segment: cut, but still one segment


def classify_twilio_error(
    status: int, code: int | None, message: str, retry_after: float | None = None
) -> SendResult:
    """Map a Twilio error response onto a ``SendResult`` (see the module docstring)."""
    # Without an error document the library reports the HTTP status as the code.
    known = code is not None and code != status
    error = f"twilio HTTP {status}" + (f" error {code}" if known else "") + f": {message}"
    error = mask_text(error)  # Twilio's messages quote the 'To' number
    if status == 429 or code in RATE_LIMITED_CODES:
        return SendResult.retry(error, retry_after=retry_after)
    if code in OPTED_OUT_CODES:
        return SendResult.failed(error, recipient_state=RecipientState.OPTED_OUT)
    if code in INVALID_NUMBER_CODES:
        return SendResult.failed(error, recipient_state=RecipientState.INVALID)
    if status >= 500 or status in AUTH_STATUSES:
        return SendResult.retry(error, retry_after=retry_after)
    return SendResult.failed(error)


@functools.lru_cache(maxsize=8)
def _basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class _AiohttpTwilioClient(AsyncTwilioHttpClient):
    """``AsyncTwilioHttpClient`` with a timeout, a connection cap, and the Retry-After header.

    The stock client ignores its ``timeout`` and skips request logging only by level; this one
    bounds every request, keeps one pooled session per event loop, and logs nothing (request
    bodies hold phone numbers).
    """

    def __init__(self, timeout: float, max_connections: int) -> None:
        super().__init__(pool_connections=False, timeout=timeout)
        self._max_connections = max_connections
        self._loop: asyncio.AbstractEventLoop | None = None
        self._aio: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._aio is None or self._loop is not loop or self._aio.closed:
            self._aio = aiohttp.ClientSession(
                # Bound the exchange with Twilio, not the wait for a pooled connection: a burst
                # of queued sends must not time out before it has even started.
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self.timeout, sock_read=self.timeout
                ),
                connector=aiohttp.TCPConnector(limit=self._max_connections),
            )
            self._loop = loop
        return self._aio

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        session = self._session()
        headers = dict(headers or {})
        if auth:
            headers["Authorization"] = _basic_auth(*auth)
        body: bytes | None = None
        if data:
            # Encode the form here: aiohttp's generic FormData path costs more CPU than the
            # rest of the request at a thousand sends a second.
            body = urlencode(data, doseq=True).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        async with session.request(
            method.upper(),
            url,
            params=params,  # type: ignore[arg-type]
            data=body,
            headers=headers,
            allow_redirects=allow_redirects,
        ) as response:
            text = (await response.read()).decode("utf-8", "replace")
            _retry_after.set(parse_retry_after(response.headers.get("Retry-After")))
            return TwilioResponse(response.status, text, response.headers)

    async def close(self) -> None:
        if self._aio is not None and not self._aio.closed:
            await self._aio.close()
        self._aio = None


class SmsChannel(Channel[SmsSettings]):
    name = "sms"
    audience = Audience.RECIPIENT
    max_length = ChannelLimit(160)
    sample_address = "+16175550123"  # 555-01xx: reserved for fiction
    rate_limit = ChannelLimit(RateLimit(1, 1.0))  # a long code; per instance: see below
    max_batch = 1

    def __init__(self, settings: BaseModel | dict[str, Any] | None = None) -> None:
        super().__init__(settings)
        self._http = _AiohttpTwilioClient(self.settings.timeout, self.settings.max_connections)
        self.client = TwilioClient(
            self.settings.account_sid,
            self.settings.auth_token.get_secret_value(),
            http_client=self._http,
        )
        self.client.api.base_url = self.settings.api_base_url.rstrip("/")

    @classmethod
    def sample_settings(cls, secret: str = "sample-secret") -> dict[str, Any]:
        return {
            "account_sid": "AC" + "0" * 32,
            "auth_token": f"{secret}-twilio",
            "from_number": "+16175550000",
            "base_url": "https://alerts.example.org",
        }

    def rate_limit_for_settings(self) -> RateLimit:
        """The sender's throughput depends on what number the operator rents."""
        return sender_rate_limit(self.settings.messages_per_second)

    # ------------------------------------------------------------------ compose (pure)

    def compose(self, alerts: Sequence[Alert], recipient: Recipient | None) -> Message:
        facts = alert_facts(alerts)
        locale = normalize_locale(recipient.locale if recipient else None)
        if facts.alert_id is not None:
            link = short_link(self.settings.base_url, facts.alert_id)
        else:
            link = facts.booking_url or self.settings.base_url
        text = fit_sms(facts, locale, link)
        key = "sms:" + ",".join(str(i) for i in facts.alert_ids)
        if recipient is not None:
            key += f":{recipient.subscriber_id}"
        return Message(text=text, recipient=recipient, parts=(text,), idempotency_key=key)

    # ------------------------------------------------------------------ send

    async def send(self, message: Message) -> SendResult:
        recipient = message.recipient
        if recipient is None or not recipient.address:
            return SendResult.failed("an SMS needs a recipient phone number")
        who = mask(recipient.address)
        kwargs: dict[str, Any] = {"to": recipient.address, "body": message.text}
        if self.settings.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.settings.messaging_service_sid
        else:
            kwargs["from_"] = self.settings.from_number
        if self.settings.status_callback_url:
            kwargs["status_callback"] = self.settings.status_callback_url
        _retry_after.set(None)
        try:
            created = await self.client.messages.create_async(**kwargs)
        except TwilioRestException as exc:
            result = classify_twilio_error(exc.status, exc.code, exc.msg, _retry_after.get())
        except TwilioServiceException as exc:
            text = exc.detail or exc.title
            result = classify_twilio_error(exc.status, exc.code, text, _retry_after.get())
        except TimeoutError:
            result = SendResult.retry(f"Twilio did not answer within {self.settings.timeout:g}s")
        except aiohttp.ClientError as exc:
            result = SendResult.retry(f"cannot reach Twilio: {type(exc).__name__}")
        except ValueError as exc:  # a 2xx whose body is not the JSON Twilio sends
            result = SendResult.retry(f"unreadable Twilio response: {type(exc).__name__}")
        else:
            log.debug("sms to %s accepted as %s", who, created.sid)
            return SendResult.sent(created.sid)
        log.info(
            "sms to %s not sent (%s): %s",
            who,
            "will retry" if result.transient else "final",
            result.error,
        )
        return result

    async def aclose(self) -> None:
        await self._http.close()
