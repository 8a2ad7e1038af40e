"""What each simulator URL serves, built from one snapshot of the timeline per request."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Hashable
from typing import Any, Protocol
from urllib.parse import urlencode

from starlette.requests import Request

from notifier.testing import prepmod_pages, smart_feed
from notifier.testing.content import HTML, JSON, NDJSON, Content
from notifier.testing.prepmod_pages import PrepModClinic
from notifier.testing.timeline import SiteState, Timeline

__all__ = [
    "Site",
    "not_found",
    "prepmod_clinics",
    "prepmod_search",
    "redesigned",
    "registration",
    "smart_file",
]


class Site(Protocol):
    """What a route reads of the simulator serving it (``ProviderSimulator`` is one)."""

    page_size: int

    @property
    def base_url(self) -> str: ...

    @property
    def timeline(self) -> Timeline: ...

    def cached(self, key: Hashable, build: Callable[[], Content]) -> Content: ...


NAME_PARAM = "q[venue_search_name_or_venue_name_i_cont]"
VACCINE_PARAM = "q[vaccinations_name_i_cont]"
_RAILS_404 = """<!DOCTYPE html>
<html>
<head><title>The page you were looking for doesn't exist (404)</title></head>
<body class="rails-default-error-page">
  <div class="dialog">
    <div>
      <h1>The page you were looking for doesn't exist.</h1>
      <p>You may have mistyped the address or the page may have moved.</p>
    </div>
  </div>
</body>
</html>
"""


def not_found(path: str) -> Content:
    return Content(_RAILS_404.encode(), HTML, status=404, cacheable=False)


def _json_error(status: int, message: str) -> Content:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid", "diagnostics": message}],
    }
    return Content(json.dumps(outcome).encode(), JSON, status=status, cacheable=False)


def _hours(opens: str, closes: str) -> str:
    def fmt(value: str) -> str:
        return dt.time.fromisoformat(value).strftime("%I:%M %p").lower()

    return f"{fmt(opens)} - {fmt(closes)}"


def prepmod_clinics(
    states: dict[str, SiteState],
    clinic_id: Callable[[str, dt.date], int],
    search: str = "",
    vaccine: str = "",
) -> list[PrepModClinic]:
    """The clinic blocks of the PrepMod sites matching a search, by date then site."""
    order = {site_id: i for i, site_id in enumerate(states)}
    clinics: list[tuple[tuple[dt.date, int], PrepModClinic]] = []
    for site_id, state in states.items():
        site = state.site
        if site.source != "prepmod":
            continue
        if search.lower() not in site.name.lower() or vaccine.lower() not in site.vaccine.lower():
            continue
        for day, appointments in state.by_date.items():
            clinic = PrepModClinic(
                clinic_id=clinic_id(site_id, day),
                name=site.name,
                date=day,
                address_line=site.address_line,
                vaccine=site.vaccine,
                age_groups=site.age_groups,
                hours=_hours(site.opens, site.closes),
                appointments=appointments,
            )
            clinics.append(((day, order[site_id]), clinic))
    return [clinic for _, clinic in sorted(clinics, key=lambda pair: pair[0])]


def _last_modified(sim: Site, states: list[SiteState]) -> dt.datetime:
    walls = [s.published.wall for s in states]
    return max(walls, default=sim.timeline.origin_wall)


def prepmod_search(sim: Site, request: Request) -> Content:
    states = sim.timeline.states()
    versions = tuple((site_id, state.version) for site_id, state in states.items())
    key = ("prepmod", request.url.path, request.url.query, versions)
    return sim.cached(key, lambda: _render_search(sim, request, states))


def _render_search(sim: Site, request: Request, states: dict[str, SiteState]) -> Content:
    params = request.query_params
    try:
        page = int(params.get("page", "1"))
    except ValueError:
        return not_found(request.url.path)
    search, vaccine = params.get(NAME_PARAM, ""), params.get(VACCINE_PARAM, "")
    clinics = prepmod_clinics(states, sim.timeline.clinic_id, search, vaccine)
    if not 1 <= page <= prepmod_pages.page_count(len(clinics), sim.page_size):
        return not_found(request.url.path)
    kept = [(k, v) for k, v in params.multi_items() if k != "page"]

    def link(number: int) -> str:
        return f"{request.url.path}?{urlencode([*kept, ('page', str(number))])}"

    body = prepmod_pages.render_search_page(
        clinics, page=page, link=link, base_url=sim.base_url, search=search, page_size=sim.page_size
    )
    shown = [s for s in states.values() if s.site.source == "prepmod"]
    return Content(
        body.encode(),
        HTML,
        last_modified=_last_modified(sim, shown),
        site_ids=tuple(s.site.id for s in shown),
    )


def registration(sim: Site, request: Request) -> Content:
    wanted = request.query_params.get("clinic_id", "")
    states = sim.timeline.states()
    clinics = prepmod_clinics(states, sim.timeline.clinic_id)
    found = next((c for c in clinics if str(c.clinic_id) == wanted), None)
    if found is None:  # a SMART site's clinic: same booking page, other source
        for state in states.values():
            for day, appointments in state.by_date.items():
                if str(sim.timeline.clinic_id(state.site.id, day)) == wanted:
                    found = PrepModClinic(
                        int(wanted),
                        state.site.name,
                        day,
                        state.site.address_line,
                        state.site.vaccine,
                        state.site.age_groups,
                        "",
                        appointments,
                    )
    body = prepmod_pages.render_registration_page(found, sim.base_url)
    return Content(body.encode(), HTML, status=200 if found else 404, cacheable=False)


def _parse_since(value: str) -> dt.datetime:
    since = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return since if since.tzinfo else since.replace(tzinfo=dt.UTC)


def _ms(moment: dt.datetime) -> dt.datetime:
    """An instant at the millisecond resolution the manifest writes (so _since round-trips)."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def smart_file(sim: Site, request: Request) -> Content:
    name = request.url.path.removeprefix("/smart/")
    states = {k: s for k, s in sim.timeline.states().items() if s.site.source == "smart"}
    origin = sim.timeline.origin_wall
    base = sim.base_url
    if name == "$bulk-publish":
        since: dt.datetime | None = None
        if "_since" in request.query_params:
            try:
                since = _parse_since(request.query_params["_since"])
            except ValueError:
                return _json_error(400, "_since must be an ISO 8601 instant")
        changed = [s for s in states.values() if since is None or _ms(s.published.wall) > since]
        transaction = _last_modified(sim, list(states.values()))
        data = smart_feed.manifest(
            base_url=base,
            request_url=str(request.url),
            transaction_time=transaction,
            sites=[s.site for s in changed],
            include_static=since is None or _ms(origin) > since,
        )
        return Content(
            json.dumps(data, indent=2).encode(),
            JSON,
            last_modified=transaction,
            site_ids=tuple(states),
        )
    if name == "locations.ndjson":
        text = smart_feed.ndjson(
            smart_feed.location_resource(s.site, base) for s in states.values()
        )
        return Content(text.encode(), NDJSON, last_modified=origin)
    if name == "schedules.ndjson":
        text = smart_feed.ndjson(smart_feed.schedule_resource(s.site) for s in states.values())
        return Content(text.encode(), NDJSON, last_modified=origin)
    site_id = name.removeprefix("slots-").removesuffix(".ndjson")
    state = states.get(site_id)
    if state is None or not name.startswith("slots-"):
        return _json_error(404, f"no such file: {name}")

    def booking_link(day: dt.date) -> str:
        clinic = sim.timeline.clinic_id(site_id, day)
        return f"{base}/appointment/en/client/registration?clinic_id={clinic}"

    def render() -> Content:
        slots = smart_feed.slot_resources(state.site, state.by_date, booking_link)
        return Content(
            smart_feed.ndjson(slots).encode(),
            NDJSON,
            last_modified=state.published.wall,
            site_ids=(site_id,),
        )

    return sim.cached(("slots", site_id, state.version), render)


def redesigned(sim: Site, request: Request, kind: str, content: Content) -> Content:
    """``content`` in a shape its parser does not know: a redesign or a schema change."""
    if content.status != 200:
        return content
    if kind == "prepmod":
        states = sim.timeline.states()
        clinics = prepmod_clinics(states, sim.timeline.clinic_id)
        page = prepmod_pages.render_redesigned_page(
            clinics, base_url=sim.base_url, page_size=sim.page_size
        )
        return dataclasses.replace(content, body=page.encode())
    if content.content_type == JSON:
        data: dict[str, Any] = json.loads(content.body)
        data["files"] = data.pop("output", [])  # the list of files moved to another key
        return dataclasses.replace(content, body=json.dumps(data).encode())
    entries = [{"resource": json.loads(line)} for line in content.body.splitlines() if line]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    return dataclasses.replace(content, body=json.dumps(bundle).encode(), content_type=JSON)
