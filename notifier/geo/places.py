"""One postal code's place: the record every country's lookup returns."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PostalPlace"]


@dataclass(frozen=True, slots=True)
class PostalPlace:
    country: str
    postal_code: str
    city: str | None
    state: str | None
    lat: float
    lon: float
    time_zone: str | None
