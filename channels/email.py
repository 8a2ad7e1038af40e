"""Email over SMTP (aiosmtplib): a large-type text + HTML alert with a signed one-click unsubscribe.

Each message is ``multipart/alternative`` (plain text and HTML, rendered from
``notifier/messaging/templates/<locale>/email/``) written for someone who reads with difficulty:
body text of 22 px and more, black on white, one big booking button per place, and the count,
place, address, days and vaccines spelled out. A digest (several alerts for one subscriber)
names each place once, with its newest numbers.

Headers: ``List-Unsubscribe`` (a signed https link bound to the subscriber id and channel,
plus a mailto) with ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058), and a
``Message-ID`` derived from the dispatcher's idempotency key, so a resend after a crash
carries the same id and mail systems can recognise it.

Connections are pooled (``notifier.messaging.smtp_pool``) and reused; the send rate is set by
``messages_per_second`` (the dispatcher's token bucket). The server's answers map onto the
dispatcher's outcomes (``classify_smtp_error``):

* 4xx replies, connection errors, timeouts, a dropped connection -> retry
* 5xx to RCPT (550 5.1.1 no such user, ...)    -> failed, recipient INVALID
* 5.7.x to RCPT (relaying denied, policy)      -> failed, logged as ERROR: our setup, not theirs
* login refused (535), MAIL FROM refused (5xx) -> failed, logged as ERROR for the operator
* 5xx to DATA (content refused)                -> failed
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import logging
import re
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import aiosmtplib
from markupsafe import escape
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from channels._email_errors import classify_smtp_error, needs_operator
from channels._email_format import encode_header, mime_message, place_views
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
from notifier.messaging.render import alert_facts, normalize_locale, render
from notifier.messaging.signed_links import make_confirm_token
from notifier.messaging.smtp_pool import SmtpPool, send_transaction
from notifier.messaging.unsubscribe_tokens import make_unsubscribe_token
from notifier.model import Alert
from notifier.privacy import mask, mask_text

__all__ = [
    "EmailChannel",
    "EmailSettings",
    "classify_smtp_error",
    "email_rate_limit",
    "message_id_for",
]

log = logging.getLogger(__name__)

_DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
# After the server refuses our login, fail fast for a while instead of logging in again for
# every queued message (which can get the account locked).
LOGIN_COOLDOWN_SECONDS = 60.0
# Where each recipient's own unsubscribe link goes in a shared rendering (never sent).
_LINK_SLOT = "https://unsubscribe.invalid/link-slot"
_RENDER_CACHE_SIZE = 256


@dataclass(frozen=True, slots=True)
class _Rendered:
    subject: str
    text: str
    html: str
    alert_ids: tuple[int, ...]


# A plain ASCII address: dot-atom local part, dotted domain. Anything else (spaces, quotes,
# line breaks, non-ASCII needing SMTPUTF8) cannot be sent through this channel.
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")


class EmailSettings(BaseModel):
    """``channels.email.settings`` in config.yaml."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1)
    #: default: 587 (starttls), 465 (ssl), 25 (none)
    port: int | None = Field(None, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    #: "starttls" (submission, port 587), "ssl" (implicit TLS, 465) or "none" (a local relay)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    #: "Vaccine Alerts <alerts@example.org>"; its address is also the envelope sender
    from_address: str
    reply_to: str | None = None
    #: mailbox for the mailto: unsubscribe (default: reply_to, else the from address)
    unsubscribe_mailbox: str | None = None
    #: public base URL of the web app; unsubscribe links are ``{base_url}/u/{token}``
    base_url: str = Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    #: signs unsubscribe links; at least 16 characters, write it as ${ENV_VAR}
    secret: SecretStr
    #: how long an unsubscribe link works (None: forever)
    unsubscribe_link_days: int | None = Field(400, ge=1)
    timeout: float = Field(10.0, gt=0)
    #: connections kept open to the server (each carries one message at a time)
    pool_size: int = Field(4, ge=1, le=64)
    #: what the relay allows (Amazon SES starts at 14/s; a small relay may want 1-5/s)
    messages_per_second: float = Field(10.0, gt=0)
    validate_certs: bool = True
    #: extra CA bundle (PEM) for a server with a private certificate
    ca_file: str | None = None
    #: name sent in EHLO (default: the domain of from_address; avoids a slow getfqdn())
    local_hostname: str | None = None

    @field_validator("from_address", "reply_to", "unsubscribe_mailbox")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        _, addr = email.utils.parseaddr(value)
        if not _ADDRESS.match(addr) or any(c in value for c in "\r\n"):
            raise ValueError("must be an email address, optionally with a name: Name <a@b.org>")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> EmailSettings:
        if self.password is not None and not self.username:
            raise ValueError("a password needs a username")
        if len(self.secret.get_secret_value()) < 16:
            raise ValueError("secret must have at least 16 characters")
        return self

    @property
    def smtp_port(self) -> int:
        return self.port or _DEFAULT_PORTS[self.security]

    @property
    def link_max_age(self) -> dt.timedelta | None:
        days = self.unsubscribe_link_days
        return dt.timedelta(days=days) if days is not None else None


def email_rate_limit(messages_per_second: float) -> RateLimit:
    """The token bucket for ``messages_per_second``: small bursts, refilled often enough
    (every ~0.1 s above 10/s) that the rate also holds over short spans."""
    rate = messages_per_second
    count = max(1, round(rate / 10)) if rate >= 10 else max(1, round(rate))
    return RateLimit(count, count / rate)


def message_id_for(idempotency_key: str, domain: str) -> str:
    """``<hex@domain>``: the same key gives the same Message-ID, so a resend is recognisable.
    Without a key (a message sent outside the outbox) the id is random."""
    if idempotency_key:
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
        return f"<{digest}.alert@{domain}>"
    return f"<{uuid.uuid4().hex}@{domain}>"


class EmailChannel(Channel[EmailSettings]):
    name = "email"
    audience = Audience.RECIPIENT
    rate_limit = ChannelLimit(RateLimit(10, 1.0))  # per instance: settings.messages_per_second
    sample_address = "jane@example.org"
    #: alerts one email may summarise (a digest); places are named once each
    max_batch = 10

    def __init__(self, settings: BaseModel | dict[str, Any] | None = None) -> None:
        super().__init__(settings)
        self.pool = SmtpPool(self._new_smtp, self.settings.pool_size)
        self._secret = self.settings.secret.get_secret_value()
        self._base_url = self.settings.base_url.rstrip("/")
        self._login_refused: tuple[float, SendResult] | None = None
        self._renders: dict[tuple[str, bool, str], _Rendered] = {}
        name, sender = email.utils.parseaddr(self.settings.from_address)
        # Parsed once: parseaddr costs more than a whole SMTP exchange at hundreds a second.
        self._sender = sender
        self._domain = sender.rpartition("@")[2].lower()
        self._from_header = encode_header("From", email.utils.formataddr((name, sender)))
        mailbox = self.settings.unsubscribe_mailbox or self.settings.reply_to or sender
        self._unsubscribe_mailto = f"mailto:{email.utils.parseaddr(mailbox)[1]}?subject=unsubscribe"
        self._reply_to_header = (
            encode_header("Reply-To", self.settings.reply_to) if self.settings.reply_to else None
        )

    @classmethod
    def sample_settings(cls, secret: str = "sample-secret") -> dict[str, Any]:
        return {
            "host": "127.0.0.1",
            "port": 2525,
            "security": "none",
            "from_address": "alerts@example.org",
            "base_url": "https://alerts.example.org",
            "secret": f"{secret}-email-signing",
            "username": "alerts",
            "password": f"{secret}-smtp",
        }

    def rate_limit_for_settings(self) -> RateLimit:
        """What the SMTP relay accepts: ``settings.messages_per_second``."""
        return email_rate_limit(self.settings.messages_per_second)

    # ------------------------------------------------------------------ links

    def unsubscribe_url(self, recipient: Recipient) -> str:
        token = recipient.unsubscribe_token or make_unsubscribe_token(
            self._secret, recipient.subscriber_id, self.name
        )
        return f"{self._base_url}/u/{token}"

    def confirm_url(self, confirm_token: str) -> str:
        """The confirmation link: the stored one-time token, signed (it can expire, and an
        edited link is told apart from a used one)."""
        signed = make_confirm_token(self._secret, confirm_token)
        return f"{self._base_url}/confirm/{quote(signed, safe='')}"

    def _unsubscribe_headers(self, url: str) -> dict[str, str]:
        return {
            "List-Unsubscribe": f"<{url}>, <{self._unsubscribe_mailto}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }

    # ------------------------------------------------------------------ compose (pure)

    def _render_alert(self, alerts: Sequence[Alert], locale: str, linked: bool) -> _Rendered:
        """Subject, text and HTML for ``alerts`` with ``_LINK_SLOT`` where each recipient's
        unsubscribe link goes. One alert reaches thousands of people in a few languages, so
        renderings are memoised (keyed by the alerts' full content, not just their ids)."""
        key = (locale, linked, repr(tuple(alerts)))
        cached = self._renders.get(key)
        if cached is not None:
            return cached
        places = place_views(alerts, self._base_url)
        facts = alert_facts([p.alert for p in places])
        context = {
            "places": places,
            "facts": facts,
            "unsubscribe_url": _LINK_SLOT if linked else None,
        }
        subject = " ".join(render("email", locale, "subject.txt", **context).split())
        rendered = _Rendered(
            subject=subject,
            text=render("email", locale, "alert.txt", **context),
            html=render("email", locale, "alert.html", subject=subject, **context),
            alert_ids=facts.alert_ids,
        )
        if len(self._renders) >= _RENDER_CACHE_SIZE:
            self._renders.pop(next(iter(self._renders)))  # the oldest entry
        self._renders[key] = rendered
        return rendered

    def compose(self, alerts: Sequence[Alert], recipient: Recipient | None) -> Message:
        locale = normalize_locale(recipient.locale if recipient else None)
        rendered = self._render_alert(alerts, locale, linked=recipient is not None)
        text, html, headers = rendered.text, rendered.html, {}
        key = "email:" + ",".join(str(i) for i in rendered.alert_ids)
        if recipient is not None:
            url = self.unsubscribe_url(recipient)
            text = text.replace(_LINK_SLOT, url)
            html = html.replace(_LINK_SLOT, str(escape(url)))
            headers = self._unsubscribe_headers(url)
            key += f":{recipient.subscriber_id}"
        return Message(
            text=text,
            recipient=recipient,
            subject=rendered.subject,
            html=html,
            headers=headers,
            idempotency_key=key,
        )

    def compose_confirmation(self, recipient: Recipient, confirm_token: str) -> Message:
        """The double opt-in email: one big button to ``{base_url}/confirm/{token}``."""
        locale = normalize_locale(recipient.locale)
        context = {"confirm_url": self.confirm_url(confirm_token)}
        subject = " ".join(render("email", locale, "confirm_subject.txt", **context).split())
        return Message(
            text=render("email", locale, "confirm.txt", **context),
            recipient=recipient,
            subject=subject,
            html=render("email", locale, "confirm.html", subject=subject, **context),
            idempotency_key=f"email:confirm:{recipient.subscriber_id}:{confirm_token}",
        )

    # ------------------------------------------------------------------ build

    def message_id(self, message: Message) -> str:
        return message_id_for(message.idempotency_key, self._domain)

    def build_email(self, message: Message) -> bytes:
        """The complete MIME message (CRLF, 7-bit); raises ValueError for an unusable address."""
        recipient = message.recipient
        if recipient is None or not _ADDRESS.match(recipient.address or ""):
            raise ValueError("not a usable email address")
        headers = [("From", self._from_header), ("To", recipient.address)]
        if self._reply_to_header:
            headers.append(("Reply-To", self._reply_to_header))
        headers += [
            ("Subject", encode_header("Subject", message.subject or "")),
            ("Date", email.utils.format_datetime(self.now())),
            ("Message-ID", self.message_id(message)),
            # RFC 3834: keeps vacation responders from answering every alert.
            ("Auto-Submitted", "auto-generated"),
        ]
        for name, value in message.headers.items():
            if name.lower() == "list-unsubscribe":
                # Never encoded or split inside a URI (clients do not decode encoded words
                # there): one <URI> per line.
                headers.append((name, " ".join(value.split()).replace(">, <", ">,\r\n <")))
            else:
                headers.append((name, encode_header(name, value)))
        boundary = "=_" + secrets.token_hex(12)  # "=_" never occurs in quoted-printable
        return mime_message(headers, message.text, message.html, boundary)

    # ------------------------------------------------------------------ send

    def _new_smtp(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.host,
            port=s.smtp_port,
            username=s.username,
            password=s.password.get_secret_value() if s.password else None,
            use_tls=s.security == "ssl",
            start_tls=s.security == "starttls",
            timeout=s.timeout,
            validate_certs=s.validate_certs,
            cert_bundle=s.ca_file,
            local_hostname=s.local_hostname or self._domain,
        )

    async def send(self, message: Message) -> SendResult:
        recipient = message.recipient
        who = mask(recipient.address) if recipient else "nobody"
        try:
            data = self.build_email(message)
        except ValueError as exc:
            log.warning("email to %s not built: %s", who, mask_text(str(exc)))
            return SendResult.failed(
                mask_text(f"unusable address: {exc}"), recipient_state=RecipientState.INVALID
            )
        assert recipient is not None
        if self._login_refused is not None:
            until, refused = self._login_refused
            if time.monotonic() < until:
                return refused
            self._login_refused = None
        message_id = self.message_id(message)
        try:
            await self._transmit(recipient.address, data)
        except Exception as exc:  # noqa: BLE001 - classified below; unknown ones re-raise
            result = classify_smtp_error(exc)
            self._report(exc, result, who)
            return result
        log.debug("email to %s accepted as %s", who, message_id)
        return SendResult.sent(message_id)

    async def _transmit(self, address: str, data: bytes) -> None:
        """Send on a pooled connection; a pooled connection the server had silently closed
        gets one more try on a fresh connection (the message never reached the server)."""
        for fresh in (False, True):
            async with self.pool.connection(fresh=fresh) as conn:
                try:
                    await send_transaction(conn.smtp, self._sender, address, data)
                    return
                except aiosmtplib.SMTPServerDisconnected:
                    if not conn.reused or fresh:
                        raise

    def _report(self, exc: BaseException, result: SendResult, who: str) -> None:
        if needs_operator(exc):
            log.error(
                "email: the SMTP server at %s:%s refused us (%s); fix channels.email.settings",
                self.settings.host,
                self.settings.smtp_port,
                result.error,
            )
            if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
                self._login_refused = (time.monotonic() + LOGIN_COOLDOWN_SECONDS, result)
            return
        outcome = "will retry" if result.transient else "final"
        log.info("email to %s not sent (%s): %s", who, outcome, result.error)

    async def aclose(self) -> None:
        await self.pool.aclose()
