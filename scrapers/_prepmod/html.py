"""Reading one PrepMod clinic-search page (HTML) into clinic records, or refusing to.

The page is parsed with selectolax's lexbor engine: it is about 40 times faster than
BeautifulSoup and twice as fast as lxml on these pages (see ``bench/bench_prepmod.py``), and one
poll of a state-wide search fetches dozens of pages.

Both 2021 layouts share the same clinic block, so blocks are found by their own markup, not by
the container around them (the container is what changed between March and May 2021)::

    <div class="md:flex justify-between ... border-b">        one block = one clinic date
      <div class="md:flex-shrink text-gray-800">
        <p class="text-xl font-black">Citizen Center on 05/13/2021</p>   (an h2 on some hosts)
        <p>10 Welcome Street, Haverhill MA, 01830</p>
        <p><strong>Vaccinations offered:</strong> ...</p>    "Label: value" lines
        <p><strong>Available Appointments:</strong> 124</p>    (March: "Available Appointments\n :")
        <p class="my-3 flex"><a href=".../client/registration?clinic_id=4470">Sign Up ...</a></p>
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import Enum

from selectolax.lexbor import LexborHTMLParser, LexborNode

from notifier.scraping import Blocked, ScrapeError, Unparseable, UpstreamError
from scrapers._prepmod.text import (
    PostalAddress,
    canonical_products,
    parse_address,
    split_list,
)

__all__ = ["ClinicBlock", "next_page_href", "read_search_page"]

_TITLE = re.compile(r"^(?P<name>.+?)\s+on\s+(?P<date>\d{1,2}/\d{1,2}/(?:\d{4}|\d{2}))$")
_LABEL = re.compile(r"^(?P<label>[^:]{1,80}?)\s*:\s*(?P<value>.*)$", re.DOTALL)
_COUNT = re.compile(r"^\d[\d,]*")
_FIELD_LABELS = frozenset(
    {
        "vaccinations offered",
        "age groups served",
        "services offered",
        "additional information",
        "clinic hours",
        "available appointments",
        "appointments available or currently being booked",
        "special instructions",
    }
)
_SEARCH_FORM = 'form#clinic_search, form.clinic_search, form[action*="clinic/search"]'
_BODY_START = re.compile(r"<body\b", re.IGNORECASE)
_BODY_START_BYTES = re.compile(rb"<body\b", re.IGNORECASE)
_HEAD_LIMIT = 200_000  # a head longer than this is not looked past for <body>
_NAV = re.compile(r"<nav\b[^>]*\bpagination\b[^>]*>.*?</nav>", re.DOTALL | re.IGNORECASE)

# What a search that matched nothing says. The wording is not in any captured page, so several
# phrasings are accepted; anything else without clinics is treated as a changed layout.
_NO_RESULTS = (
    "no clinics found",
    "no clinics were found",
    "no clinics available",
    "no clinics match",
    "no clinics matched",
    "there are no clinics",
    "no open clinics",
    "no upcoming clinics",
    "no results found",
    "no results were found",
    "did not match any clinics",
)
# Only consulted when the page is not a usable search page, because a clinic's own notes may
# well mention a "waiting room", and New Relic's script says "queueTime".
_BLOCKED_MARKUP = (
    "queue-it",
    "queueit",
    "g-recaptcha",
    "h-captcha",
    "hcaptcha.com",
    "recaptcha/api",
    "cf-challenge",
    "challenge-platform",
    "_incapsula_",
    "px-captcha",
)
_BLOCKED_TEXT = (
    "you are now in line",
    "you are in line",
    "your place in line",
    "waiting room",
    "estimated wait time",
    "you are in the queue",
    "checking your browser",
    "verify you are human",
    "are you a robot",
    "captcha",
    "access denied",
    "request blocked",
    "the request could not be satisfied",
    "too many requests",
)
_ERROR_TEXT = (
    "we're sorry",
    "we’re sorry",
    "something went wrong",
    "application error",
    "internal server error",
    "service unavailable",
    "bad gateway",
    "gateway timeout",
    "maintenance",
    "temporarily unavailable",
    "doesn't exist",
    "page not found",
    "was rejected",
)


class _Skip(Enum):
    """Why a ``justify-between`` div yields no clinic."""

    NOT_A_CLINIC = "not a clinic"
    NO_AVAILABILITY = "no count and no sign-up link"


_NOT_A_CLINIC = _Skip.NOT_A_CLINIC
_NO_AVAILABILITY = _Skip.NO_AVAILABILITY


@dataclass(frozen=True, slots=True)
class ClinicBlock:
    """One PrepMod clinic: one date at one site, as the page prints it."""

    title: str
    name: str
    date: dt.date
    address_line: str | None
    address: PostalAddress
    #: open appointments; None when the block shows no count (open, count unknown)
    available: int | None
    products: tuple[str, ...]
    age_groups: tuple[str, ...]
    #: the sign-up link as written (relative or absolute); None when the clinic is full
    booking_href: str | None
    #: offers only vaccines other than COVID-19 (flu, shingles...)
    non_covid: bool


def read_search_page(html: str | bytes) -> list[ClinicBlock]:
    """The clinic blocks of a search page; ``[]`` only for a search that says it found none.

    ``html`` may be UTF-8 bytes, which lexbor reads without a decode/encode round trip.
    Raises ``Blocked`` for a waiting room or challenge, ``UpstreamError`` for an error page and
    ``Unparseable`` for anything else it does not recognise.
    """
    # Everything read is in <body>; skipping the head's inline scripts and styles (half of a
    # real page) makes parsing about 30% faster. Refusals below look at the whole page.
    if isinstance(html, bytes):
        found = _BODY_START_BYTES.search(html, 0, _HEAD_LIMIT)
        body_at = found.start() if found else 0
    else:
        text_found = _BODY_START.search(html, 0, _HEAD_LIMIT)
        body_at = text_found.start() if text_found else 0
    tree = LexborHTMLParser(html[body_at:])
    is_search_page = tree.css_first(_SEARCH_FORM) is not None
    blocks = [_read_block(node) for node in _block_nodes(tree)] if is_search_page else []
    clinics = [b for b in blocks if isinstance(b, ClinicBlock)]
    had_blocks = any(b is not _NOT_A_CLINIC for b in blocks)
    if clinics:
        # pagy draws the pagination bar after the last block on every results page; a page
        # without it was cut short, and a short page would look like appointments vanished.
        if tree.css_first("nav.pagination") is None:
            raise Unparseable("PrepMod page lists clinics but has no pagination bar (truncated?)")
        return clinics
    text = html if isinstance(html, str) else html.decode("utf-8", errors="replace")
    visible = _visible_text(text)
    if is_search_page and not had_blocks and any(p in visible for p in _NO_RESULTS):
        return []
    raise _refusal(text, visible, is_search_page=is_search_page, had_blocks=had_blocks)


def next_page_href(html: str) -> str | None:
    """The "Next" link of the pagination bar; None on the last page or without a bar."""
    match = _NAV.search(html)
    if match is None:
        return None
    nav = LexborHTMLParser(match.group(0))
    following = nav.css_first(".next")
    if following is not None:
        if "disabled" in (following.attributes.get("class") or "").split():
            return None
        link = following if following.tag == "a" else following.css_first("a[href]")
    else:
        link = nav.css_first('a[rel~="next"]')
    href = (link.attributes.get("href") or "").strip() if link is not None else ""
    return href or None


# --------------------------------------------------------------------------- blocks


def _block_nodes(tree: LexborHTMLParser) -> list[LexborNode]:
    """Innermost ``div.justify-between`` elements; wrappers of several blocks are skipped."""
    # lexbor's ``node.css`` includes the node itself, hence "more than one".
    return [
        node
        for node in tree.css("div.justify-between")
        if len(node.css("div.justify-between")) == 1
    ]


def _lines(node: LexborNode) -> list[str]:
    """The non-empty text lines of a block, stripped but not yet whitespace-collapsed: the
    long "Additional Information" notes are never collapsed, as nothing reads them."""
    texts = (el.text().strip() for el in node.css("p, h2, h3, h4"))
    return [t for t in texts if t]


def _squash(text: str) -> str:
    return " ".join(text.split())


def _read_block(node: LexborNode) -> ClinicBlock | _Skip:
    """A clinic block; ``_NOT_A_CLINIC`` for a ``justify-between`` div that is not one (the
    page header); ``_NO_AVAILABILITY`` for a clinic that shows neither a count nor a link.

    A block that looks like a clinic but lacks its title or date raises: the layout changed.
    """
    lines = _lines(node)
    fields: dict[str, str] = {}
    title_at: int | None = None
    title_match: re.Match[str] | None = None
    seen_field = False
    for i, line in enumerate(lines):
        # The title comes before the fields; searching further could take a note that ends in
        # "on 4/21/2021" for a title.
        if title_match is None and not seen_field:
            title_match = _TITLE.match(_squash(line))
            if title_match is not None:
                title_at = i
                continue
        label = _LABEL.match(line)
        if label is not None:
            key = _squash(label["label"]).lower()
            fields.setdefault(key, label["value"])
            seen_field = seen_field or key in _FIELD_LABELS
    link = _sign_up_link(node)
    count_key = next((k for k in fields if "appointments" in k and "available" in k), None)
    if title_match is None or title_at is None:
        if count_key is not None or link is not None:
            raise Unparseable("PrepMod clinic block without a 'Name on MM/DD/YYYY' title")
        return _NOT_A_CLINIC
    date = _parse_date(title_match["date"])
    address_line = _address_line(lines, title_at)
    count_text = fields.get(count_key, "") if count_key else ""
    count = _COUNT.match(count_text.lstrip())
    available = int(count.group(0).replace(",", "")) if count else None
    if available is None and link is None:
        # Neither a count nor a sign-up link: this block says nothing about availability.
        return _NO_AVAILABILITY
    products, non_covid = canonical_products(_squash(fields.get("vaccinations offered", "")))
    return ClinicBlock(
        title=f"{title_match['name']} on {title_match['date']}",
        name=title_match["name"].strip(),
        date=date,
        address_line=address_line,
        address=parse_address(address_line)
        if address_line
        else PostalAddress(None, None, None, None),
        available=available,
        products=products,
        age_groups=split_list(_squash(fields.get("age groups served", ""))),
        booking_href=link,
        non_covid=non_covid,
    )


def _parse_date(text: str) -> dt.date:
    month, day, year = (int(p) for p in text.split("/"))
    try:
        return dt.date(year + 2000 if year < 100 else year, month, day)
    except ValueError as exc:
        raise Unparseable(f"PrepMod clinic date {text!r} is not a date") from exc


def _address_line(lines: list[str], title_at: int) -> str | None:
    """The line after the title, unless the address was left out and a field comes first."""
    if title_at + 1 >= len(lines):
        return None
    line = _squash(lines[title_at + 1])
    label = _LABEL.match(line)
    if label is not None and label["label"].lower() in _FIELD_LABELS:
        return None
    return line


def _sign_up_link(node: LexborNode) -> str | None:
    for anchor in node.css("a[href]"):
        href = (anchor.attributes.get("href") or "").strip()
        text = anchor.text().lower()
        if href and ("registration" in href or "sign up" in text):
            return href
    return None


# --------------------------------------------------------------------------- refusals


def _visible_text(html: str) -> str:
    """Lower-cased page text, title included, without scripts and styles (slow path only)."""
    tree = LexborHTMLParser(html)
    tree.strip_tags(["script", "style", "noscript", "template"])
    root = tree.root
    return " ".join((root.text() if root is not None else "").split()).lower()


def _refusal(html: str, visible: str, *, is_search_page: bool, had_blocks: bool) -> ScrapeError:
    markup = html.lower()
    if any(m in markup for m in _BLOCKED_MARKUP) or any(t in visible for t in _BLOCKED_TEXT):
        return Blocked("PrepMod answered with a waiting room, queue or challenge page")
    marker = next((t for t in _ERROR_TEXT if t in visible), None)
    if marker is not None:
        # Name the marker, never quote the page: error pages can carry a help-line number.
        return UpstreamError(f"PrepMod answered with an error page ({marker!r})")
    if is_search_page and had_blocks:
        return Unparseable("PrepMod clinic blocks carry neither a count nor a sign-up link")
    if is_search_page:
        return Unparseable("PrepMod search page shows no clinics and no 'no results' message")
    return Unparseable("not a PrepMod clinic search page (layout changed?)")
