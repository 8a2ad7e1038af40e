"""A quick, deterministic fuzz of a scraper's recorded fixtures.

A provider that half-delivers a page (a cut connection, a proxy that mangles bytes, an empty
200) must never crash the poller with a ``KeyError`` or, worse, read as "no appointments".
Each fixture response is mutated a fixed set of ways (truncations, byte flips, empty and
trivially wrong bodies); the scraper must then either parse it or raise a ``ScrapeError``.
The mutations are seeded from the fixture's name, so a failure reproduces exactly.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from notifier.kit.replay import responses_for_paths
from notifier.model import LocationAvailability
from notifier.scraping import Response, ScrapeError, Scraper, fixture_dir

__all__ = ["FuzzFailure", "fuzz_scraper", "mutations"]

#: Bodies a broken upstream really sends instead of the page.
_TRIVIAL_BODIES: tuple[bytes, ...] = (b"", b"{}", b"[]", b"null", b"<html></html>", b"\x00\xff")


@dataclass(frozen=True, slots=True)
class FuzzFailure:
    """One mutation that made the scraper fail in a way other than ``ScrapeError``."""

    example: str
    response_index: int
    mutation: str
    error: str

    def __str__(self) -> str:
        return (
            f"{self.example} response {self.response_index} {self.mutation}: "
            f"raised {self.error} (expected a result or a ScrapeError)"
        )


def mutations(body: bytes, seed: str, flips: int = 4) -> Iterator[tuple[str, bytes]]:
    """Named, deterministic variants of ``body``."""
    size = len(body)
    for fraction in (0.01, 0.25, 0.5, 0.75, 0.99):
        cut = int(size * fraction)
        if 0 < cut < size:
            yield f"truncated at byte {cut}", body[:cut]
    rng = random.Random(zlib.crc32(seed.encode()))
    for _ in range(flips if size else 0):
        at = rng.randrange(size)
        flipped = bytearray(body)
        flipped[at] ^= 1 << rng.randrange(8)
        yield f"bit flip at byte {at}", bytes(flipped)
    for trivial in _TRIVIAL_BODIES:
        yield f"body replaced by {trivial!r}", trivial


def _attempt(scraper: Scraper, responses: Sequence[Response], index: int) -> str | None:
    """None when the scraper copes with ``responses``; otherwise the unexpected error."""
    try:
        scraper.follow(responses[index])
        results = scraper.parse_all(responses)
        if not isinstance(results, list) or not all(
            isinstance(r, LocationAvailability) for r in results
        ):
            return f"a {type(results).__name__} that is not a list of LocationAvailability"
    except ScrapeError:
        return None
    except Exception as exc:  # noqa: BLE001 - any other exception is exactly what we look for
        return f"{type(exc).__name__}: {exc}"
    return None


def fuzz_scraper(scraper_cls: type[Scraper], *, flips: int = 4) -> list[FuzzFailure]:
    """Fuzz every example's responses, one response mutated at a time."""
    failures: list[FuzzFailure] = []
    base = fixture_dir(scraper_cls)
    for example in scraper_cls.examples:
        scraper = scraper_cls(example.settings)
        label = ", ".join(example.files)
        paths = [base / f for f in example.files]
        if not all(Path(p).exists() for p in paths):
            continue  # a missing fixture is the examples' failure to report, not fuzz's
        try:
            responses = responses_for_paths(scraper, paths)
        except (ScrapeError, OSError, ValueError):
            continue
        for index, response in enumerate(responses):
            seed = f"{scraper_cls.name}:{label}:{index}"
            for name, body in mutations(response.body, seed, flips):
                mutated = list(responses)
                mutated[index] = replace(response, body=body)
                error = _attempt(scraper, mutated, index)
                if error is not None:
                    failures.append(FuzzFailure(label, index, name, error))
    return failures
