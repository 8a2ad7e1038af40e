"""``notifier scraper check / list / docs / new`` on throw-away scrapers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from typer.testing import CliRunner

import notifier.kit.providers_doc
from notifier.cli.scraper import app
from notifier.kit.checks import check_scraper
from notifier.kit.providers_doc import main as docs_main
from notifier.kit.providers_doc import provider_rows, render_markdown
from notifier.kit.quality import RULE_TIERS
from notifier.kit.scaffold import ScaffoldError, plan_scaffold, write_scaffold
from tests.kit.kit_helpers import GOOD_SCRAPER, OPEN, KitWorkspace, quality_yaml


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_check_passes_a_good_scraper(kit: KitWorkspace) -> None:
    kit.good()
    kit.quality("kit_fake_good", quality_yaml("kit-good", "platinum"))
    code, out = invoke("check", "kit-good")
    assert code == 0, out
    assert "claims platinum, earns platinum" in out
    assert "raises UpstreamError as expected" in out


def test_check_prints_values_to_paste_and_fails(kit: KitWorkspace) -> None:
    source = GOOD_SCRAPER.format(cls="Fresh", name="kit-fresh").replace(
        'Example(files=("open.json",), expect={"locations": 1, "appointments": 5}),',
        'Example(files=("open.json",)),',
    )
    kit.basic_fixtures("kit-fresh")
    kit.load("kit_fake_fresh", source, "Fresh")
    kit.quality("kit_fake_fresh", quality_yaml("kit-fresh", "bronze"))
    code, out = invoke("check", "kit-fresh")
    assert code == 1
    assert "needs values" in out
    # ready to paste: the example with every expected value filled in, as Python
    assert "Example( files=('open.json',), expect={ 'locations': 1, 'appointments': 5," in out
    assert "'by_date': {'2021-05-13': 3, '2021-05-14': 2}" in out
    assert "'postal_code': '01830'" in out  # the ZIP's lost leading zero is repaired


def test_check_lists_missing_rules(kit: KitWorkspace) -> None:
    kit.good()
    kit.quality("kit_fake_good", quality_yaml("kit-good", "gold", tz_aware="todo"))
    code, out = invoke("check", "kit-good")
    assert code == 1
    assert "claims gold, earns bronze" in out
    assert "tz-aware: todo # marked todo" in out


def test_check_without_a_quality_file_fails(kit: KitWorkspace) -> None:
    cls = kit.good()
    check = check_scraper(cls)
    assert not check.ok
    assert check.failures[-1].startswith("no quality file: create scrapers/kit_fake_good")


def test_check_unknown_scraper(kit: KitWorkspace) -> None:
    code, out = invoke("check", "nobody-here")
    assert code == 2 and "no scraper named 'nobody-here'" in out


def test_list_and_docs_show_project_scrapers(
    kit: KitWorkspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cls = kit.good()
    kit.quality("kit_fake_good", quality_yaml("kit-good", "gold"))
    # test scrapers are not project scrapers; make this one count as one for the listing
    monkeypatch.setattr(notifier.kit.providers_doc, "project_scrapers", lambda: [cls])
    code, out = invoke("list")
    assert code == 0
    assert "kit-good" in out and "Kit Test Clinics" in out and "gold" in out and "works" in out
    doc = tmp_path / "providers.md"
    assert docs_main(["--output", str(doc)]) == 0
    text = doc.read_text()
    assert text == render_markdown(provider_rows())
    assert "| [kit-good](#kit-good) | Kit Test Clinics | US-MA | api | gold | works |" in text
    assert "Polled every 120 s by default, never more often than every 60 s" in text
    assert docs_main(["--output", str(doc), "--check"]) == 0
    doc.write_text(text + "edited by hand\n")
    assert docs_main(["--output", str(doc), "--check"]) == 1


def test_project_scrapers_exclude_ones_defined_elsewhere(kit: KitWorkspace) -> None:
    cls = kit.good()
    assert cls not in notifier.kit.providers_doc.project_scrapers()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Bad_Name", "invalid name"),
        ("9lives", "invalid name"),
        ("my--clinic", "invalid name"),
        ("class", "cannot be a module name"),
        ("prepmod", "already registered"),
    ],
)
def test_new_refuses_bad_or_taken_names(name: str, message: str) -> None:
    code, out = invoke("new", name)
    assert code == 2
    assert message in out


def test_scaffold_never_overwrites(tmp_path: Path) -> None:
    plan = plan_scaffold("kit-scaffold", root=tmp_path)
    written = write_scaffold(plan, provider="Kit", regions=("US-MA",), maintainer="@me")
    assert [p.name for p in written] == [
        "kit_scaffold.py",
        "kit_scaffold.quality.yaml",
        "SOURCES.md",
        "test_kit_scaffold.py",
    ]
    with pytest.raises(ScaffoldError, match="refusing to overwrite"):
        plan_scaffold("kit-scaffold", root=tmp_path)
    source = written[0].read_text()
    assert 'regions = ("US-MA",)' in source and 'maintainer = "@me"' in source
    assert "raise Unparseable" in source


def test_scaffold_validates_its_inputs(tmp_path: Path) -> None:
    plan = plan_scaffold("kit-scaffold", root=tmp_path)
    with pytest.raises(ScaffoldError, match="not html, api or feed"):
        write_scaffold(plan, source_format="xml")
    with pytest.raises(ScaffoldError, match="quotes"):
        write_scaffold(plan, provider='Evil "quote')
    with pytest.raises(ScaffoldError, match="regions"):
        write_scaffold(plan, regions=("MA; import os",))
    with pytest.raises(ScaffoldError, match="probably means 'US-MA'"):
        write_scaffold(plan, regions=("MA",))
    assert not plan.module_path.exists()


SCAFFOLD_PARSE = """\
        data = response.json()
        clinics = data.get("clinics") if isinstance(data, dict) else None
        if not isinstance(clinics, list):
            raise Unparseable(f"{self.name}: no clinics list at {response.url}")
        results = []
        for clinic in clinics:
            location = complete_location(
                Location(
                    id=str(clinic["id"]),
                    name=str(clinic["name"]),
                    postal_code=str(clinic["zip"]),
                    booking_url=str(clinic["url"]),
                )
            )
            by_date = {dt.date.fromisoformat(d): int(n) for d, n in clinic["dates"].items()}
            results.append(LocationAvailability.from_counts(location, by_date))
        return results
"""


def test_a_scaffolded_scraper_once_written_passes_check(kit: KitWorkspace) -> None:
    """What `notifier scraper new` writes uses the contracts only and the generic settings
    pattern; a volunteer who writes parse and records a fixture gets a passing `check`."""
    plan = plan_scaffold("kit-scaffolded", root=kit.root)
    write_scaffold(plan, provider="Kit Clinics", regions=("US-MA",), maintainer="@kit")
    source = plan.module_path.read_text()
    imported = {
        node.module
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported == {"__future__", "pydantic", "notifier.model", "notifier.scraping"}
    assert "class KitScaffoldedScraper(Scraper[KitScaffoldedScraperSettings]):" in source
    assert "cast(" not in source and "self.settings.base_url" in source
    assert "response.raise_for_status()" in source

    # The volunteer's part: a parse, a fixture with its values, the bronze rules done.
    unwritten = source[source.index('        raise Unparseable(f"{self.name}: parse is not') :]
    written = (
        source.replace(unwritten, SCAFFOLD_PARSE)
        .replace(
            "from notifier.model import LocationAvailability",
            "import datetime as dt\n\nfrom notifier.geo import complete_location\n"
            "from notifier.model import Location, LocationAvailability",
        )
        .replace(
            'Example(files=("page.html",)),',
            'Example(files=("page.json",), expect={"locations": 1, "appointments": 5}),',
        )
    )
    kit.fixture("kit-scaffolded", "page.json", OPEN)
    kit.sources("kit-scaffolded", "page.json: written for the kit tests\n")
    quality = plan.quality_path.read_text()
    for rule, tier in RULE_TIERS.items():
        if tier == "bronze":
            quality = quality.replace(f"  {rule}: todo", f"  {rule}: done")
    plan.quality_path.write_text(quality)
    cls = kit.load("kit_scaffolded", written, "KitScaffoldedScraper")
    assert cls.Settings.__name__ == "KitScaffoldedScraperSettings"
    assert cls().settings.base_url == "https://provider.example/appointments"
    code, out = invoke("check", "kit-scaffolded")
    assert code == 0, out
    assert "claims bronze, earns bronze" in out
