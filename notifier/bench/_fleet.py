"""A fleet of simulated providers on one loopback port, for the ``poll-scale`` benchmark.

``python -m notifier.bench._fleet --providers 100 --locations 100`` prints ``READY <url>`` and
serves provider ``n`` under ``/p<n>/`` in one of three real formats, in turn:

* ``html``: a PrepMod clinic search (``/p<n>/clinic/search``, 10 clinics a page, paginated);
* ``json``: an H-E-B style ``/p<n>/vaccine_locations.json`` (one file, every store);
* ``smart``: a SMART Scheduling Links feed (``/p<n>/smart/$bulk-publish`` + 3 NDJSON files).

Content never changes (the "nothing changed" case of the benchmark); every answer carries an
ETag and Last-Modified and a matching conditional request gets a bodiless 304. ``GET /_stats``
returns the bytes and requests served so far. It runs in its own process so that its CPU is
not counted as the poller's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import random
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

from notifier.testing import prepmod_pages, smart_feed
from notifier.testing.content import etag_for, http_date
from notifier.testing.mini_http import Answer, HttpProtocol
from notifier.testing.sites import MASS_VACCINATION_SITES, Site

__all__ = ["KINDS", "provider_kind"]

KINDS = ("html", "json", "smart")
_ZIPS = ("02035", "02215", "01923", "01104", "01760", "02747", "02139", "01830", "02114")
_PUBLISHED = dt.datetime(2021, 2, 18, 13, 0, tzinfo=dt.UTC)


def provider_kind(n: int) -> str:
    return KINDS[n % len(KINDS)]


@dataclass(frozen=True, slots=True)
class _Doc:
    body: bytes
    content_type: str

    @property
    def etag(self) -> str:
        return etag_for(self.body)


class Fleet:
    def __init__(self, base_url: str, providers: int, locations: int) -> None:
        self.base_url = base_url
        self.docs: dict[str, _Doc] = {}
        self.bytes_sent = 0
        self.requests = 0
        self.not_modified = 0
        rng = random.Random(11)
        for n in range(providers):
            sites = [_site(n, i, rng) for i in range(locations)]
            getattr(self, f"_render_{provider_kind(n)}")(n, sites, rng)

    def _open(self, rng: random.Random) -> int:
        return rng.choice((0, 0, 0, 4, 12, 40))

    def _render_html(self, n: int, sites: list[Site], rng: random.Random) -> None:
        day = _PUBLISHED.date() + dt.timedelta(days=1)
        clinics = [
            prepmod_pages.PrepModClinic(
                clinic_id=n * 10_000 + i,
                name=site.name,
                date=day,
                address_line=site.address_line,
                vaccine=site.vaccine,
                age_groups=site.age_groups,
                hours="09:00 am - 05:00 pm",
                appointments=self._open(rng),
            )
            for i, site in enumerate(sites)
        ]
        path = f"/p{n}/clinic/search"
        for page in range(1, prepmod_pages.page_count(len(clinics)) + 1):

            def link(number: int, path: str = path) -> str:
                return f"{path}?{urlencode({'page': number})}"

            html = prepmod_pages.render_search_page(
                clinics, page=page, link=link, base_url=f"{self.base_url}/p{n}"
            )
            self.docs[f"{path}#{page}"] = _Doc(html.encode(), "text/html; charset=utf-8")

    def _render_json(self, n: int, sites: list[Site], rng: random.Random) -> None:
        stores = []
        for i, site in enumerate(sites):
            slots = self._open(rng)
            stores.append(
                {
                    "storeNumber": n * 10_000 + i + 1,
                    "name": site.name,
                    "street": site.street,
                    "city": site.city,
                    "state": site.state,
                    "zip": site.postal_code,
                    "latitude": site.lat,
                    "longitude": site.lon,
                    "url": f"{self.base_url}/p{n}/book/{i}" if slots else None,
                    "openAppointmentSlots": slots,
                    "openFluAppointmentSlots": 0,
                    "availableImmunizations": ["COVID-19 Moderna"],
                }
            )
        body = json.dumps({"locations": stores}).encode()
        self.docs[f"/p{n}/vaccine_locations.json"] = _Doc(body, "application/json")

    def _render_smart(self, n: int, sites: list[Site], rng: random.Random) -> None:
        base = f"{self.base_url}/p{n}"
        day = _PUBLISHED.date() + dt.timedelta(days=1)
        slots: list[dict[str, object]] = []

        def booking(_day: dt.date) -> str:
            return f"{base}/book"

        for site in sites:
            slots += smart_feed.slot_resources(site, {day: self._open(rng)}, booking)
        manifest = {
            "transactionTime": _PUBLISHED.isoformat().replace("+00:00", "Z"),
            "request": f"{base}/smart/$bulk-publish",
            "output": [
                {"type": "Location", "url": f"{base}/smart/locations.ndjson"},
                {"type": "Schedule", "url": f"{base}/smart/schedules.ndjson"},
                {"type": "Slot", "url": f"{base}/smart/slots.ndjson"},
            ],
            "error": [],
        }
        ndjson = "application/x-ndjson"
        locations = smart_feed.ndjson(smart_feed.location_resource(s, base) for s in sites)
        schedules = smart_feed.ndjson(smart_feed.schedule_resource(s) for s in sites)
        self.docs[f"/p{n}/smart/$bulk-publish"] = _Doc(
            json.dumps(manifest).encode(), "application/json"
        )
        self.docs[f"/p{n}/smart/locations.ndjson"] = _Doc(locations.encode(), ndjson)
        self.docs[f"/p{n}/smart/schedules.ndjson"] = _Doc(schedules.encode(), ndjson)
        self.docs[f"/p{n}/smart/slots.ndjson"] = _Doc(smart_feed.ndjson(slots).encode(), ndjson)

    def handle(self, method: str, target: str, headers: dict[str, str], _body: bytes) -> Answer:
        parts = urlsplit(target)
        if parts.path == "/_stats":
            stats = {"bytes": self.bytes_sent, "requests": self.requests}
            stats["not_modified"] = self.not_modified
            return 200, {"Content-Type": "application/json"}, json.dumps(stats).encode()
        key = parts.path
        if key.endswith("/clinic/search"):
            page = dict(parse_qsl(parts.query)).get("page", "1")
            key = f"{key}#{page}"
        doc = self.docs.get(key)
        if doc is None or method != "GET":
            return self._count(404, {"Content-Type": "text/plain"}, b"not found")
        validators = {"ETag": doc.etag, "Last-Modified": http_date(_PUBLISHED)}
        if headers.get("if-none-match") == doc.etag:
            self.not_modified += 1
            return self._count(304, validators, b"")
        return self._count(200, {"Content-Type": doc.content_type, **validators}, doc.body)

    def _count(self, status: int, headers: dict[str, str], body: bytes) -> Answer:
        self.requests += 1
        # Status line, headers and the server's Content-Length/Connection lines: what goes out.
        head = 17 + sum(len(k) + len(v) + 4 for k, v in headers.items()) + 50
        self.bytes_sent += head + len(body)
        return status, headers, body


def _site(n: int, i: int, rng: random.Random) -> Site:
    template = MASS_VACCINATION_SITES[i % len(MASS_VACCINATION_SITES)]
    return Site(
        id=f"p{n}-site-{i}",
        name=f"Clinic {n}-{i}",
        street=f"{i + 1} Main Street",
        city=template.city,
        postal_code=_ZIPS[(n + i) % len(_ZIPS)],
        lat=template.lat + rng.uniform(-0.05, 0.05),
        lon=template.lon + rng.uniform(-0.05, 0.05),
        source="smart",
        weight=0.0,
        vaccine="Moderna COVID-19 Vaccine",
        cvx="207",
        slot_minutes=60,
        opens="09:00",
        closes="17:00",
    )


async def _serve(providers: int, locations: int) -> None:
    loop = asyncio.get_running_loop()
    transports: set[asyncio.Transport] = set()
    holder: list[Fleet] = []
    server = await loop.create_server(
        lambda: HttpProtocol(lambda *a: holder[0].handle(*a), transports), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    holder.append(Fleet(url, providers, locations))
    print(f"READY {url}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--providers", type=int, default=100)
    parser.add_argument("--locations", type=int, default=100, help="per provider")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.providers, args.locations))


if __name__ == "__main__":
    main()
