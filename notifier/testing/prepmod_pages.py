"""PrepMod clinic-search pages in the real May 2021 markup of clinics.maimmunizations.org.

The header, search form and footer are the captured page, kept verbatim. The page is stored
once, as the ``prepmod`` scraper's fixture (``scrapers/fixtures/prepmod/maimmunizations-2021-
05.html``, provenance in that folder's SOURCES.md), and read from there. Only the clinic blocks
and the ``nav.pagination`` are rendered, in the same markup: a title "<Name> on MM/DD/YYYY",
the address, ``Label: value`` lines, and a sign-up link only when the clinic is not full. The
live site listed 10 clinics a page (a 2021 scraper read "5 pages and found 44 clinics"), so
that is the default page size.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from notifier.plugins import package_dir
from notifier.scraping import SCRAPERS_PACKAGE

__all__ = [
    "PREPMOD_PAGE_SIZE",
    "PrepModClinic",
    "page_count",
    "registration_url",
    "render_redesigned_page",
    "render_registration_page",
    "render_search_page",
]

PREPMOD_PAGE_SIZE = 10
REAL_PAGE = "maimmunizations-2021-05.html"
REAL_HOST = "https://clinics.maimmunizations.org"
_RESULTS_OPEN = '<div class="mt-24 border-t border-gray-200">\n'
_RESULTS_CLOSE = "\n</div>\n\n      </main>"
_CAPTURED_SEARCH = "Citizen"
_BLOCK_CLASSES = (
    "md:flex justify-between -mx-2 md:mx-0 px-2 md:px-4 pt-4 pb-4 border-b border-gray-200"
)
_CSRF = re.compile(r'name="csrf-token" content="[^"]*"')

ADDITIONAL_INFO = (
    "Open to Massachusetts residents eligible under the current phase. Your second dose "
    "appointment will be scheduled at the time of your first dose."
)
SPECIAL_INSTRUCTIONS = (
    "If you are signing up for a second dose, you must get the same vaccine brand as your "
    "first dose."
)


@dataclass(frozen=True, slots=True)
class PrepModClinic:
    """One clinic block: a site on one date."""

    clinic_id: int
    name: str
    date: dt.date
    address_line: str
    vaccine: str
    age_groups: str
    hours: str
    appointments: int


@lru_cache(maxsize=1)
def _real_page_parts() -> tuple[str, str]:
    # Read as package data: the scraper's code is not imported, only its recorded page.
    page = package_dir(SCRAPERS_PACKAGE) / "fixtures" / "prepmod" / REAL_PAGE
    text = page.read_text("utf-8")
    start = text.index(_RESULTS_OPEN) + len(_RESULTS_OPEN)
    end = text.index(_RESULTS_CLOSE)
    return text[:start], text[end:]


def _chrome(base_url: str, search: str, token_seed: str) -> tuple[str, str]:
    """The captured header and footer, pointed at the simulator and showing this search."""
    head, foot = _real_page_parts()
    head = head.replace(REAL_HOST, base_url)
    head = head.replace(f'value="{_CAPTURED_SEARCH}"', f'value="{html.escape(search)}"')
    head = head.replace(f"cont%5D={_CAPTURED_SEARCH}&", f"cont%5D={html.escape(search)}&")
    # Rails puts a fresh CSRF token in every page; a fixed one per content keeps ETags stable.
    token = base64.b64encode(hashlib.sha512(token_seed.encode()).digest()).decode()
    head = _CSRF.sub(f'name="csrf-token" content="{token}"', head)
    return head, foot


def registration_url(base_url: str, clinic_id: int) -> str:
    """The sign-up link of a clinic, in the May 2021 form."""
    return f"{base_url}/appointment/en/client/registration?clinic_id={clinic_id}"


def page_count(total: int, page_size: int = PREPMOD_PAGE_SIZE) -> int:
    return max(1, math.ceil(total / page_size))


def _block(clinic: PrepModClinic, index: int, base_url: str) -> str:
    shade = "bg-gray-50" if index % 3 == 2 else ""
    signup = ""
    if clinic.appointments > 0:
        href = registration_url(base_url, clinic.clinic_id)
        signup = (
            '        <p class="my-3 flex">\n'
            f'          <a class="button-primary px-4" href="{href}">\n'
            "              Sign Up for a COVID-19 Vaccination\n"
            "</a>        </p>\n"
        )
    return f"""<div class="{_BLOCK_CLASSES} {shade}">
  <div class="md:flex-shrink text-gray-800">
    <p class="text-xl font-black">
      {html.escape(clinic.name)} on {clinic.date:%m/%d/%Y}
    </p>

    <p>
      {html.escape(clinic.address_line)}
    </p>

    <p>
      <strong>Vaccinations offered:</strong>
      <strong>
      {html.escape(clinic.vaccine)}
      </strong>
    </p>
      <p>
        <strong>Age groups served:</strong>
          {html.escape(clinic.age_groups)}
      </p>
    <p>
    </p><p>
      <strong>Services offered:</strong>
      Vaccination
    </p>

      <p>
        <strong>Additional Information:</strong> {ADDITIONAL_INFO}
      </p>

    <p><strong>Clinic Hours
      :</strong> {clinic.hours}</p>

      <p>
        <strong>Available Appointments:</strong>
        {clinic.appointments}
      </p>

      <div><strong>Special Instructions:</strong> {SPECIAL_INSTRUCTIONS}</div>

{signup}  </div>

  <div class="map-image mt-4 md:mt-0 md:flex-shrink-0">
      <img alt="Map" src="ma_immunizations_files/clinic{clinic.clinic_id}.png">
  </div>
</div>
"""


def _series(page: int, pages: int) -> list[int | None]:
    """Page numbers around the current one as pagy shows them; None is a gap."""
    shown = sorted({1, pages, *range(max(1, page - 4), min(pages, page + 4) + 1)})
    series: list[int | None] = []
    for number in shown:
        if series and series[-1] is not None and number - series[-1] > 1:
            series.append(None)
        series.append(number)
    return series


def _pagination(page: int, pages: int, link: Callable[[int], str]) -> str:
    def anchor(number: int, label: str, extra: str = "") -> str:
        rel = ' rel="prev"' if number == page - 1 else ' rel="next"' if number == page + 1 else ""
        return f'<a href="{html.escape(link(number))}"  {rel} {extra}>{label}</a>'

    parts: list[str] = []
    if page > 1:
        parts.append(f'<span class="page prev">{anchor(page - 1, "‹&nbsp;Prev", _PREV)}</span>')
    else:
        parts.append('<span class="page prev disabled">‹&nbsp;Prev</span>')
    for number in _series(page, pages):
        if number is None:
            parts.append('<span class="page gap">&hellip;</span>')
        elif number == page:
            parts.append(f'<span class="page active">{number}</span>')
        else:
            parts.append(f'<span class="page">{anchor(number, str(number))}</span>')
    if page < pages:
        parts.append(f'<span class="page next">{anchor(page + 1, "Next&nbsp;›", _NEXT)}</span>')
    else:
        parts.append('<span class="page next disabled">Next&nbsp;›</span>')
    nav = " ".join(parts)
    return (
        '\n  <div class="mt-4 flex justify-center">\n'
        '    <nav class="pagy-nav pagination" role="navigation" aria-label="pager">'
        f"{nav}</nav>\n  </div>"
    )


_PREV = 'aria-label="previous"'
_NEXT = 'aria-label="next"'


def render_search_page(
    clinics: Sequence[PrepModClinic],
    *,
    page: int,
    link: Callable[[int], str],
    base_url: str,
    search: str = "",
    page_size: int = PREPMOD_PAGE_SIZE,
) -> str:
    """One page of the clinic search; ``link(n)`` is the URL of page ``n`` (pagy hrefs)."""
    pages = page_count(len(clinics), page_size)
    if not 1 <= page <= pages:
        raise ValueError(f"page {page} is outside 1..{pages}")
    shown = clinics[(page - 1) * page_size : page * page_size]
    blocks = "".join(_block(c, i, base_url) for i, c in enumerate(shown))
    seed = repr((page, search, [(c.clinic_id, c.appointments) for c in shown]))
    head, foot = _chrome(base_url, search, seed)
    return head + "    " + blocks + "\n" + _pagination(page, pages, link) + foot


def render_redesigned_page(
    clinics: Sequence[PrepModClinic], *, base_url: str, page_size: int = PREPMOD_PAGE_SIZE
) -> str:
    """The same data in a markup a May-2021 parser does not know (a site redesign).

    The title and header are unchanged, so only a parser that checks for its clinic blocks
    notices; one that silently finds "no blocks" would report every clinic as gone.
    """
    cards = "".join(
        f"""  <article class="clinic-card" data-clinic-id="{c.clinic_id}">
    <h2 class="clinic-card__title">{html.escape(c.name)}</h2>
    <time datetime="{c.date.isoformat()}">{c.date:%A, %B %d, %Y}</time>
    <address>{html.escape(c.address_line)}</address>
    <dl class="clinic-card__facts">
      <dt>Vaccine</dt><dd>{html.escape(c.vaccine)}</dd>
      <dt>Open slots</dt><dd>{c.appointments}</dd>
    </dl>
    <a class="btn btn-primary" href="{registration_url(base_url, c.clinic_id)}">Book now</a>
  </article>
"""
        for c in clinics[:page_size]
    )
    head, foot = _chrome(base_url, "", "redesign")
    body = f'<section id="search-results" class="clinic-results">\n{cards}</section>\n'
    nav = (
        '<nav class="pagination-v2" aria-label="Results pages"><button disabled>More</button></nav>'
    )
    return head + body + nav + foot


def render_registration_page(clinic: PrepModClinic | None, base_url: str) -> str:
    """The page a sign-up link opens; enough for a link checker, not a booking flow."""
    if clinic is None:
        title, detail = "Clinic not found", "This clinic does not exist or has been removed."
    elif clinic.appointments <= 0:
        title, detail = "Clinic is full", "There are no more appointments at this clinic."
    else:
        title = f"Register for {clinic.name} on {clinic.date:%m/%d/%Y}"
        detail = f"{clinic.appointments} appointments available."
    head, foot = _chrome(base_url, "", f"registration:{title}")
    body = (
        f'<h2 class="text-xl font-black">{html.escape(title)}</h2>\n<p>{html.escape(detail)}</p>\n'
    )
    return head + body + foot
