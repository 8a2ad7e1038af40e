"""The simulator's PrepMod pages: real May 2021 markup, paginated, and equal to its truth."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from bs4 import BeautifulSoup, Tag

from notifier.pipeline.poll import by_site
from notifier.scraping import Request, Response
from notifier.testing.simulator import ProviderSimulator
from notifier.testing.timeline import ManualClock

TITLE = re.compile(r"^(.+) on (\d{2}/\d{2}/\d{4})$")


def read_blocks(html: str) -> list[dict[str, object]]:
    """Clinic blocks as vaccinetime read them: ``div.justify-between`` made of ``<p>`` lines."""
    soup = BeautifulSoup(html, "lxml")
    assert soup.find("h1", string=re.compile("Find a Vaccination Clinic"))
    blocks = []
    for div in soup.select("div.mt-24.border-t > div.justify-between"):
        paragraphs = div.find_all("p")
        match = TITLE.match(paragraphs[0].get_text(" ", strip=True))
        assert match, paragraphs[0]
        labels: dict[str, str] = {}
        for p in paragraphs[2:]:
            label = re.match(r"^([\w\s]+?)\s*:\s+(.+)$", p.get_text(" ", strip=True))
            if label:
                labels[label.group(1)] = label.group(2)
        link = div.find("a", string=re.compile("Sign Up"))
        blocks.append(
            {
                "name": match.group(1),
                "date": dt.datetime.strptime(match.group(2), "%m/%d/%Y").date(),
                "address": paragraphs[1].get_text(strip=True),
                "available": int(labels["Available Appointments"]),
                "vaccine": labels["Vaccinations offered"],
                "ages": labels["Age groups served"],
                "link": link["href"] if isinstance(link, Tag) else None,
            }
        )
    return blocks


def next_href(html: str) -> str | None:
    nav = BeautifulSoup(html, "lxml").select_one("nav.pagination")
    assert nav is not None
    nxt = nav.select_one(".page.next")
    assert nxt is not None
    if "disabled" in (nxt.get("class") or []):
        return None
    anchor = nxt.find("a")
    assert isinstance(anchor, Tag)
    return str(anchor["href"])


def crawl(client: httpx.Client, url: str) -> list[httpx.Response]:
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200
        pages.append(response)
        href = next_href(response.text)
        url = urljoin(str(response.url), href) if href else ""
    return pages


def test_pages_use_the_real_markup_and_match_the_truth(
    sim: ProviderSimulator, clock: ManualClock, client: httpx.Client
) -> None:
    clock.advance(10.0)  # past the 8 a.m. release (at 4.5 s), before anything is full
    truth = sim.truth()
    pages = crawl(client, sim.prepmod_url)

    prepmod_sites = [t for t in truth.values() if t.site.source == "prepmod"]
    clinic_count = sum(len(t.by_date) for t in prepmod_sites)
    assert len(pages) == math.ceil(clinic_count / 10) >= 3
    for number, page in enumerate(pages, start=1):
        query = parse_qs(urlsplit(str(page.url)).query)
        assert urlsplit(str(page.url)).path == "/clinic/search"
        assert query["q[services_name_in][]"] == ["Vaccination"]
        assert query.get("page", ["1"]) == [str(number)]
        assert "Skip to main content" in page.text  # the captured page chrome is kept
        assert "clinics.maimmunizations.org" not in page.text  # nothing points off-box

    seen: dict[str, dict[dt.date, int]] = defaultdict(dict)
    for page in pages:
        blocks = read_blocks(page.text)
        assert 1 <= len(blocks) <= 10
        for block in blocks:
            site = next(t.site for t in prepmod_sites if t.site.name == block["name"])
            assert block["address"] == site.address_line
            assert block["vaccine"] == site.vaccine
            available = block["available"]
            assert isinstance(available, int)
            # the sign-up link appears exactly when the clinic is not full
            assert (block["link"] is not None) == (available > 0)
            if block["link"]:
                assert str(block["link"]).startswith(f"{sim.base_url}/appointment/en/client/")
            assert isinstance(block["date"], dt.date)
            seen[site.id][block["date"]] = available
    assert seen == {t.site.id: dict(t.by_date) for t in prepmod_sites}
    assert sum(sum(days.values()) for days in seen.values()) == sim.total_appointments("prepmod")


def test_last_page_has_next_disabled_and_first_has_prev_disabled(
    sim: ProviderSimulator, client: httpx.Client
) -> None:
    first = client.get(sim.prepmod_url).text
    assert '<span class="page prev disabled">' in first
    assert next_href(first) is not None
    pages = crawl(client, sim.prepmod_url)
    assert next_href(pages[-1].text) is None
    beyond = client.get(sim.prepmod_page_url(len(pages) + 1))
    assert beyond.status_code == 404


def test_before_the_release_every_clinic_is_listed_full_without_links(
    sim: ProviderSimulator, client: httpx.Client
) -> None:
    blocks = [b for page in crawl(client, sim.prepmod_url) for b in read_blocks(page.text)]
    assert blocks
    assert all(b["available"] == 0 and b["link"] is None for b in blocks)


def test_search_by_venue_name_filters_clinics(
    sim: ProviderSimulator, clock: ManualClock, client: httpx.Client
) -> None:
    clock.advance(6.0)
    url = f"{sim.prepmod_url}&q%5Bvenue_search_name_or_venue_name_i_cont%5D=fenway"
    blocks = read_blocks(client.get(url).text)
    assert blocks and {b["name"] for b in blocks} == {"Fenway Park"}
    assert sum(int(str(b["available"])) for b in blocks) == sim.truth()["fenway-park"].appointments


def test_sign_up_link_opens_a_registration_page(
    sim: ProviderSimulator, clock: ManualClock, client: httpx.Client
) -> None:
    clock.advance(6.0)
    link = next(b["link"] for b in read_blocks(client.get(sim.prepmod_url).text) if b["link"])
    page = client.get(str(link))
    assert page.status_code == 200
    assert "Register for" in page.text


def _poll(scraper: object, client: httpx.Client) -> list[Response]:
    """A minimal fetch loop: the scraper's requests, then whatever ``follow`` asks for."""
    pending: list[Request] = list(scraper.requests())  # type: ignore[attr-defined]
    responses: list[Response] = []
    while pending:
        request = pending.pop(0)
        raw = client.get(request.url)
        response = Response(
            request=request,
            url=str(raw.url),
            status=raw.status_code,
            headers={k.lower(): v for k, v in raw.headers.items()},
            body=raw.content,
            fetched_at=dt.datetime.now(dt.UTC),
        )
        responses.append(response)
        pending.extend(scraper.follow(response))  # type: ignore[attr-defined]
    return responses


def test_prepmod_scraper_reads_the_same_totals_as_the_truth(
    sim: ProviderSimulator, clock: ManualClock, client: httpx.Client, warm_geo: None
) -> None:
    prepmod = pytest.importorskip(
        "scrapers.prepmod", reason="the prepmod scraper is run against the simulator once written"
    )
    clock.advance(12.0)
    scraper = prepmod.PrepModScraper({"base_url": sim.base_url})
    clinics = scraper.parse_all(_poll(scraper, client))
    truth = sim.truth()
    matched = {sim.site_for_postal_code(r.location.postal_code) for r in clinics}
    assert {site.id for site in matched if site} == {
        t.site.id for t in truth.values() if t.site.source == "prepmod"
    }
    # The scraper gives one location per clinic (a site on one date) ...
    for clinic in clinics:
        site = sim.site_for_postal_code(clinic.location.postal_code)
        assert site is not None
        [(day, count)] = clinic.by_date.items()
        assert count == truth[site.id].by_date[day]
        assert clinic.location.id == f"{scraper.site_key(clinic.location)}@{day.isoformat()}"
        link = clinic.location.booking_url
        assert (link is not None) == (count != 0)  # a full clinic offers no link
        assert link is None or link.startswith(sim.base_url)
    assert len(clinics) == sum(len(truth[s.id].by_date) for s in matched if s)
    # ... and grouped per site through ``site_key``, as the core does, it equals the truth.
    results = [result for _, result in by_site("ma-prepmod", scraper, clinics)]
    assert len(results) == len(matched)
    for result in results:
        site = sim.site_for_postal_code(result.location.postal_code)
        assert site is not None
        expected = truth[site.id]
        assert result.location.name == site.name
        assert result.appointments == expected.appointments
        assert dict(result.by_date) == dict(expected.by_date)
        assert result.location.booking_url and result.location.booking_url.startswith(sim.base_url)
