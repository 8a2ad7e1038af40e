"""``notifier scraper new``: the files a new provider starts from.

The generated module imports, lints and type-checks as it is, and fails in the right order:
first its fixture is missing (record one), then ``parse`` raises ``Unparseable`` (write it),
then its example has no expected values (paste them). Each failure says what to do next.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path

from notifier.geo import region_problem
from notifier.kit.quality import RULE_TIERS
from notifier.plugins import package_dir
from notifier.scraping import SCRAPERS_PACKAGE, normalize_name, registry

__all__ = ["NAME_PATTERN", "ScaffoldError", "ScaffoldPlan", "plan_scaffold", "write_scaffold"]

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PLACEHOLDER_PROVIDER = "TODO: the provider's public name"
PLACEHOLDER_MAINTAINER = "TODO: your GitHub handle"


class ScaffoldError(ValueError):
    """The name is invalid or taken, or a file would be overwritten."""


@dataclass(frozen=True)
class ScaffoldPlan:
    name: str
    module: str
    class_name: str
    module_path: Path
    quality_path: Path
    fixture_dir: Path
    test_path: Path

    @property
    def paths(self) -> tuple[Path, ...]:
        return (
            self.module_path,
            self.quality_path,
            self.fixture_dir / "SOURCES.md",
            self.test_path,
        )


def _module_template(
    plan: ScaffoldPlan, provider: str, regions: tuple[str, ...], maintainer: str, fmt: str
) -> str:
    quoted = [f'"{r}"' for r in regions]
    region_tuple = f"({quoted[0]},)" if len(quoted) == 1 else "(" + ", ".join(quoted) + ")"
    cls = plan.class_name
    return f'''"""{provider}: open appointments from its {fmt} source.

Source: the page at ``{cls}Settings.base_url``.
Rate limit: not published by the provider; polled at most once a minute (min_interval).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from notifier.model import LocationAvailability
from notifier.scraping import Example, Request, Response, Scraper, Unparseable

__all__ = ["{cls}", "{cls}Settings"]


class {cls}Settings(BaseModel):
    """What an operator may set for this provider under ``providers[].settings``."""

    model_config = ConfigDict(extra="forbid")

    #: the page or API endpoint that lists open appointments
    base_url: str = "https://provider.example/appointments"


class {cls}(Scraper[{cls}Settings]):
    """One sentence: what this scraper reads, and how it counts open appointments."""

    name = "{plan.name}"
    provider = "{provider}"
    regions = {region_tuple}
    maintainer = "{maintainer}"
    default_interval = 300.0
    min_interval = 60.0
    source_format = "{fmt}"
    # What the pages say when nothing can be booked (read as none), and what is a failure
    # (unknown). Name the fixture that shows each; docs/providers.md prints both.
    none_when = ("a page that says no appointments are available (page.html)",)
    unknown_when = ("HTTP errors, timeouts, block pages", "a page the scraper does not recognise")
    examples = (
        # 1. `notifier scraper record {plan.name}` saves live responses in
        #    scrapers/fixtures/{plan.name}/recorded-<date>/; list the file(s) here.
        # 2. `notifier scraper check {plan.name}` prints expected values: paste them as expect=.
        Example(files=("page.html",)),
    )

    def requests(self) -> list[Request]:
        # self.settings is a {cls}Settings (the type argument of Scraper above).
        return [Request(url=self.settings.base_url, label="appointments")]

    def parse(self, response: Response) -> list[LocationAvailability]:
        # A stored response may carry any HTTP status: this raises the same failure for it
        # as the live client would (Blocked, Unreachable, ...), before anything is read.
        response.raise_for_status()
        # For each clinic: Location(id=<stable id>, name=..., postal_code=...), passed through
        # notifier.geo.complete_location (fills lat/lon/time zone), then
        # LocationAvailability.from_counts(location, {{<local date>: <open appointments>}}).
        # Raise Unparseable / Blocked / UpstreamError for anything you do not recognise.
        raise Unparseable(f"{{self.name}}: parse is not written yet ({{response.url}})")
'''


def _quality_template(plan: ScaffoldPlan) -> str:
    lines = [
        f"scraper: {plan.name}",
        "tier: bronze  # claimed: bronze | silver | gold | platinum",
        "rules:  # done | todo | exempt: <reason>; see CONTRIBUTING.md",
    ]
    previous = ""
    for rule, tier in RULE_TIERS.items():
        comment = f"  # {tier}" if tier != previous else ""
        lines.append(f"  {rule}: todo{comment}")
        previous = tier
    return "\n".join(lines) + "\n"


def _sources_template(plan: ScaffoldPlan) -> str:
    return f"""# Fixture sources: {plan.name}

Where every file in this folder came from. A copied file names its `shared/fixtures/...` path
and the source line of shared/fixtures/README.md; `notifier scraper record` adds a line for
each response it records.

"""


def _test_template(plan: ScaffoldPlan) -> str:
    return f'''"""Tests of the {plan.name} scraper.

Its examples also run in tests/scrapers/test_meta.py; add a test here for each tricky case.
"""

from __future__ import annotations

import pytest

from notifier.kit.examples import example_label, run_example_offline
from notifier.scraping import Example
from scrapers.{plan.module} import {plan.class_name}


@pytest.mark.parametrize("example", {plan.class_name}.examples, ids=example_label)
def test_example_passes_offline(example: Example) -> None:
    run = run_example_offline({plan.class_name}, example)
    assert run.problems == [], run.suggestion_text()


def test_requests_are_absolute_https() -> None:
    requests = {plan.class_name}().requests()
    assert requests, "requests() must ask for at least one page"
    assert all(r.url.startswith("https://") for r in requests)
'''


def plan_scaffold(name: str, *, root: Path | None = None) -> ScaffoldPlan:
    """Validate ``name`` and where its files would go; refuses names or files already taken."""
    if not NAME_PATTERN.match(name):
        raise ScaffoldError(
            f"invalid name {name!r}: use lower-case letters and digits in words joined by '-', "
            "starting with a letter (e.g. 'south-shore-clinic')"
        )
    module = name.replace("-", "_")
    if keyword.iskeyword(module) or module in ("test", "fixtures"):
        raise ScaffoldError(f"invalid name {name!r}: {module!r} cannot be a module name")
    if normalize_name(name) in registry():
        raise ScaffoldError(f"a scraper named {name!r} is already registered")
    scrapers_dir = package_dir(SCRAPERS_PACKAGE) if root is None else root / SCRAPERS_PACKAGE
    project = scrapers_dir.parent
    plan = ScaffoldPlan(
        name=name,
        module=module,
        class_name="".join(part.capitalize() for part in name.split("-")) + "Scraper",
        module_path=scrapers_dir / f"{module}.py",
        quality_path=scrapers_dir / f"{module}.quality.yaml",
        fixture_dir=scrapers_dir / "fixtures" / normalize_name(name),
        test_path=project / "tests" / "scrapers" / f"test_{module}.py",
    )
    taken = [p for p in (*plan.paths, plan.fixture_dir) if p.exists()]
    if taken:
        raise ScaffoldError(
            "refusing to overwrite " + ", ".join(str(p) for p in taken) + "; pick another name"
        )
    return plan


def write_scaffold(
    plan: ScaffoldPlan,
    *,
    provider: str = PLACEHOLDER_PROVIDER,
    regions: tuple[str, ...] = (),
    maintainer: str = PLACEHOLDER_MAINTAINER,
    source_format: str = "html",
) -> list[Path]:
    """Write the four files of ``plan`` (creating folders); returns the paths written."""
    if source_format not in ("html", "api", "feed"):
        raise ScaffoldError(f"source format {source_format!r} is not html, api or feed")
    for text, what in ((provider, "provider"), (maintainer, "maintainer")):
        if '"' in text or "\\" in text or "\n" in text:
            raise ScaffoldError(f"{what} {text!r} may not contain quotes or backslashes")
    if any(not re.fullmatch(r"[A-Za-z0-9 -]+", r) for r in regions):
        raise ScaffoldError(f"regions {regions!r}: use ISO 3166 codes like US or US-MA")
    region_problems = [p for p in map(region_problem, regions) if p is not None]
    if region_problems:
        raise ScaffoldError("; ".join(region_problems))
    contents = {
        plan.module_path: _module_template(plan, provider, regions, maintainer, source_format),
        plan.quality_path: _quality_template(plan),
        plan.fixture_dir / "SOURCES.md": _sources_template(plan),
        plan.test_path: _test_template(plan),
    }
    for path, text in contents.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as handle:  # "x": never overwrite
            handle.write(text)
    return list(contents)
