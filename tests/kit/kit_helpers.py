"""Helpers for the volunteer-kit tests: throw-away scraper modules in a temporary package dir.

A fake scraper is a real module file (the kit reads scraper source with ``ast``), imported
under its own name, with its fixtures and quality file in a temporary ``scrapers/`` folder.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
from pathlib import Path

import notifier.scraping
from notifier.scraping import Scraper, normalize_name

GOOD_SCRAPER = '''
"""A JSON clinic list used by the kit's tests.

Rate limit: the test provider asks for one request a minute at most.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from notifier.geo import complete_location
from notifier.model import Location, LocationAvailability
from notifier.scraping import Example, Request, Response, Scraper, Unparseable, UpstreamError


class {cls}(Scraper):
    """Clinics as JSON: {{"clinics": [{{"id", "name", "zip", "url", "dates": {{day: n}}}}]}}."""

    name = "{name}"
    provider = "Kit Test Clinics"
    regions = ("US-MA",)
    maintainer = "@kit-tests"
    default_interval = 120.0
    min_interval = 60.0
    source_format = "api"
    examples = (
        Example(files=("open.json",), expect={{"locations": 1, "appointments": 5}}),
        Example(files=("none.json",), expect={{"locations": 1, "status": "none"}}),
        Example(files=("error.json",), raises=UpstreamError),
        Example(
            files=("open.json",),
            expect={{"locations": 1}},
            note="optional-fields: phone, valid_at",
        ),
    )

    def requests(self) -> list[Request]:
        return [Request(url="https://clinics.example.net/api/clinics")]

    def parse(self, response: Response) -> list[LocationAvailability]:
        data: Any = response.json()
        if not isinstance(data, dict):
            raise Unparseable("not an object")
        if "error" in data:
            raise UpstreamError(str(data["error"]))
        clinics = data.get("clinics")
        if not isinstance(clinics, list):
            raise Unparseable("no clinics list")
        results = []
        for clinic in clinics:
            if not isinstance(clinic, dict) or not isinstance(clinic.get("dates"), dict):
                raise Unparseable("clinic without dates")
            try:
                by_date = {{
                    dt.date.fromisoformat(str(day)): int(n) for day, n in clinic["dates"].items()
                }}
            except (TypeError, ValueError) as exc:
                raise Unparseable(f"bad date or count: {{exc}}") from exc
            location = complete_location(
                Location(
                    id=str(clinic.get("id")),
                    name=str(clinic.get("name")),
                    postal_code=str(clinic.get("zip")),
                    booking_url=str(clinic.get("url")),
                )
            )
            results.append(LocationAvailability.from_counts(location, by_date))
        return results
'''

OPEN = {
    "clinics": [
        {
            "id": "c1",
            "name": "Citizen Center",
            "zip": "1830",
            "url": "https://clinics.example.net/c1",
            "dates": {"2021-05-13": 3, "2021-05-14": 2},
        }
    ]
}
NONE = {
    "clinics": [
        {
            "id": "c1",
            "name": "Citizen Center",
            "zip": "01830",
            "url": "https://clinics.example.net/c1",
            "dates": {"2021-05-13": 0},
        }
    ]
}


def quality_yaml(name: str, tier: str, **states: str) -> str:
    """A quality file with every rule ``done`` unless overridden (``conditional_requests=...``)."""
    from notifier.kit.quality import RULES

    lines = [f"scraper: {name}", f"tier: {tier}", "rules:"]
    for rule in RULES:
        lines.append(f"  {rule}: {states.get(rule.replace('-', '_'), 'done')}")
    return "\n".join(lines) + "\n"


class KitWorkspace:
    """A temporary ``scrapers`` folder and a loader for scraper modules written into it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.scrapers_dir = root / "scrapers"
        (self.scrapers_dir / "fixtures").mkdir(parents=True)
        self.modules: list[str] = []
        self.names: list[str] = []

    def fixture(
        self, name: str, file: str, body: bytes | str | dict, meta: dict | None = None
    ) -> Path:
        folder = self.scrapers_dir / "fixtures" / normalize_name(name)
        path = folder / file
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(body, dict):
            body = json.dumps(body)
        path.write_bytes(body.encode() if isinstance(body, str) else body)
        if meta is not None:
            path.with_name(path.name + ".meta.json").write_text(json.dumps(meta))
        return path

    def sources(self, name: str, text: str) -> None:
        self.fixture(name, "SOURCES.md", text)

    def load(self, module: str, source: str, class_name: str) -> type[Scraper]:
        path = self.scrapers_dir / f"{module}.py"
        path.write_text(textwrap.dedent(source).lstrip())
        spec = importlib.util.spec_from_file_location(module, path)
        assert spec is not None and spec.loader is not None
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[module] = loaded
        self.modules.append(module)
        spec.loader.exec_module(loaded)
        cls = getattr(loaded, class_name)
        self.names.append(normalize_name(cls.name))
        return cls

    def basic_fixtures(self, name: str) -> None:
        """An open page, a "nothing open" page, an error payload and their SOURCES.md."""
        self.fixture(name, "open.json", OPEN)
        self.fixture(name, "none.json", NONE)
        self.fixture(name, "error.json", {"error": "service down"})
        self.sources(name, "open.json none.json error.json rev: written for the kit tests\n")

    def good(self, name: str = "kit-good", module: str = "kit_fake_good") -> type[Scraper]:
        """A scraper that earns platinum: all its fixtures are written too."""
        cls_name = "".join(p.capitalize() for p in name.split("-"))
        self.basic_fixtures(name)
        self.fixture(
            name,
            "rev/clinics.json",
            OPEN,
            {"status": 200, "headers": {"etag": '"v1"'}, "url": "https://clinics.example.net/api"},
        )
        self.fixture(name, "rev/clinics.json.304", b"", {"status": 304, "headers": {}})
        return self.load(module, GOOD_SCRAPER.format(cls=cls_name, name=name), cls_name)

    def quality(self, module: str, text: str) -> Path:
        path = self.scrapers_dir / f"{module}.quality.yaml"
        path.write_text(text)
        return path

    def cleanup(self) -> None:
        for module in self.modules:
            sys.modules.pop(module, None)
        for name in self.names:
            notifier.scraping._REGISTRY.pop(name, None)
