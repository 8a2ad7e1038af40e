"""Helpers of the email channel: what its templates are given, and the MIME writer.

A digest may hold several alerts for one location (it opened, then gained appointments): the
email names each place once, with its NEWEST alert, because adding the counts of two alerts
of one place would count the same appointments twice.
"""

from __future__ import annotations

import binascii
import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from email.header import Header

from notifier.messaging.render import AlertFacts, alert_facts
from notifier.model import Alert

__all__ = [
    "PlaceView",
    "booking_link",
    "encode_header",
    "mime_message",
    "place_views",
    "quoted_printable",
]

_CRLF = b"\r\n"
_MAX_HEADER_LINE = 78  # RFC 5322 "SHOULD"; 998 is the hard limit


@functools.lru_cache(maxsize=1024)  # one subject goes to thousands of recipients
def encode_header(name: str, value: str) -> str:
    """``value`` ready for the header ``name``: ASCII that fits stays as is, anything else
    becomes RFC 2047 encoded words folded at 78 characters."""
    value = " ".join(value.split())  # no line breaks can reach a header
    if value.isascii() and len(name) + 2 + len(value) <= _MAX_HEADER_LINE:
        return value
    charset = "us-ascii" if value.isascii() else "utf-8"
    return str(Header(value, charset, header_name=name).encode(linesep="\r\n"))


def quoted_printable(text: str) -> bytes:
    """UTF-8 quoted-printable with CRLF line ends: 7-bit, lines of at most 76 characters."""
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    return binascii.b2a_qp(normalized.encode("utf-8"), istext=True).replace(b"\n", _CRLF)


def mime_message(
    headers: Sequence[tuple[str, str]], text: str, html: str | None, boundary: str
) -> bytes:
    """A complete message: ``headers`` (already encoded), then ``multipart/alternative`` with
    the text and HTML parts (or a single text part when there is no HTML).

    Written directly rather than through ``email.message.EmailMessage``, whose header
    parsing costs several milliseconds a message, more than the whole SMTP exchange.
    ``boundary`` must not occur in the parts; quoted-printable never contains ``=_``.
    """
    lines = [f"{name}: {value}".encode("ascii") for name, value in headers]
    lines.append(b"MIME-Version: 1.0")
    text_type = b'Content-Type: text/plain; charset="utf-8"'
    encoding = b"Content-Transfer-Encoding: quoted-printable"
    if html is None:
        lines += [text_type, encoding, b"", quoted_printable(text)]
        return _CRLF.join(lines) + _CRLF
    marker = b"--" + boundary.encode("ascii")
    lines += [
        b'Content-Type: multipart/alternative; boundary="' + boundary.encode("ascii") + b'"',
        b"",
        marker,
        text_type,
        encoding,
        b"",
        quoted_printable(text),
        marker,
        b'Content-Type: text/html; charset="utf-8"',
        encoding,
        b"",
        quoted_printable(html),
        marker + b"--",
    ]
    return _CRLF.join(lines) + _CRLF


@dataclass(frozen=True, slots=True)
class PlaceView:
    """One place in an email: its newest alert, the facts to show, and where to book."""

    alert: Alert
    facts: AlertFacts
    link: str
    address_line: str

    @property
    def dates(self) -> tuple[dt.date, ...]:
        return self.facts.dates


def booking_link(alert: Alert, base_url: str) -> str:
    """The provider's booking page; else our ``/b/{alert_id}`` redirect; else the site.

    Only http(s) links are used: a page could carry a ``javascript:`` link.
    """
    url = (alert.location.booking_url or "").strip()
    if url.lower().startswith(("https://", "http://")):
        return url
    base = base_url.rstrip("/")
    return f"{base}/b/{alert.id}" if alert.id is not None else base


def _address_line(alert: Alert) -> str:
    loc = alert.location
    region = " ".join(part for part in (loc.state, loc.postal_code) if part)
    parts = [loc.address, loc.city, region]
    return ", ".join(" ".join(p.split()) for p in parts if p and p.strip())


def place_views(alerts: Sequence[Alert], base_url: str) -> list[PlaceView]:
    """One view per location, newest alert each, in the order the locations first appear."""
    if not alerts:
        raise ValueError("an email needs at least one alert")
    newest: dict[str, Alert] = {}
    for alert in alerts:
        key = alert.location.id
        current = newest.get(key)
        if current is None or (alert.detected_at, alert.id or 0) > (
            current.detected_at,
            current.id or 0,
        ):
            newest[key] = alert
    return [
        PlaceView(
            alert=alert,
            facts=alert_facts([alert]),
            link=booking_link(alert, base_url),
            address_line=_address_line(alert),
        )
        for alert in newest.values()
    ]
