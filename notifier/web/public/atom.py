"""Atom feeds (RFC 4287) of alerts: one for everything, one per region. Pure: bytes out."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from notifier.db.public import AlertRow
from notifier.web.public.snapshot import Snapshot, region_of, region_slug

__all__ = ["ATOM_NS", "render_atom", "render_feeds"]

ATOM_NS = "http://www.w3.org/2005/Atom"


def _stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _title(alert: AlertRow) -> str:
    count = (
        "openings" if alert.appointments is None else f"{alert.appointments:,} open appointments"
    )
    verb = "opened" if alert.kind == "opened" else "more openings"
    return f"{alert.name}: {count} ({verb})"


def _summary(alert: AlertRow) -> str:
    parts = [", ".join(p for p in (alert.city, alert.state) if p)]
    if alert.by_date:
        days = ", ".join(
            day if n is None else f"{day} ({n})" for day, n in sorted(alert.by_date.items())
        )
        parts.append(f"Dates: {days}")
    if alert.products:
        parts.append(f"Vaccines: {', '.join(alert.products)}")
    return ". ".join(p for p in parts if p)


def render_atom(
    alerts: Sequence[AlertRow], *, title: str, self_url: str, site_url: str, updated: dt.datetime
) -> bytes:
    ET.register_namespace("", ATOM_NS)
    feed = ET.Element(f"{{{ATOM_NS}}}feed")

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    sub(feed, "id", self_url)
    sub(feed, "title", title)
    sub(feed, "updated", _stamp(max((a.detected_at for a in alerts), default=updated)))
    sub(feed, "link", rel="self", href=self_url, type="application/atom+xml")
    sub(feed, "link", rel="alternate", href=site_url, type="text/html")
    author = sub(feed, "author")
    sub(author, "name", "Appointment Notifier")
    for alert in alerts:
        entry = sub(feed, "entry")
        sub(entry, "id", f"{site_url.rstrip('/')}/alerts/{alert.id}")
        sub(entry, "title", _title(alert))
        sub(entry, "updated", _stamp(alert.detected_at))
        sub(entry, "published", _stamp(alert.detected_at))
        sub(entry, "link", rel="alternate", href=alert.booking_url or site_url)
        sub(entry, "summary", _summary(alert))
        sub(entry, "category", term=region_of(alert.country, alert.state))
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def render_feeds(snapshot: Snapshot, base_url: str) -> dict[str, bytes]:
    """``feeds/atom.xml`` and ``feeds/<region>.xml`` for every region we know."""
    base = base_url.rstrip("/")
    files = {
        "feeds/atom.xml": render_atom(
            snapshot.alerts,
            title="Appointment openings",
            self_url=f"{base}/feeds/atom.xml",
            site_url=f"{base}/",
            updated=snapshot.generated_at,
        )
    }
    for region in snapshot.all_regions():
        slug = region_slug(region)
        alerts = [a for a in snapshot.alerts if region_of(a.country, a.state) == region]
        files[f"feeds/{slug}.xml"] = render_atom(
            alerts,
            title=f"Appointment openings in {region}",
            self_url=f"{base}/feeds/{slug}.xml",
            site_url=f"{base}/",
            updated=snapshot.generated_at,
        )
    return files
