"""A scraper marked broken: listed as broken, documented, warned about, and never polled."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from notifier.cli.app import app
from notifier.config import load_config
from notifier.kit.providers_doc import provider_rows, render_markdown
from notifier.pipeline.poll import Runtime
from notifier.scraping import get_scraper

REASON = "layout changed on 2024-05-01: no clinic blocks found"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def prepmod_broken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_scraper("prepmod"), "broken", REASON)


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"""\
operator: {{name: Broken test, contact: "mailto:ops@example.org"}}
database: {{url: "sqlite:///{tmp_path / "subscribers.db"}"}}
providers:
  - id: ma-prepmod
    scraper: prepmod
  - id: cvs-ma
    scraper: smart-scheduling-links
    settings: {{publisher: cvs, states: [MA]}}
""")
    return path


@pytest.mark.usefixtures("prepmod_broken")
def test_scraper_list_shows_it_as_broken_with_the_reason() -> None:
    result = CliRunner().invoke(app, ["scraper", "list"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "prepmod" in x)
    assert "broken" in line and "layout changed" in line
    smart = next(x for x in result.output.splitlines() if "smart-scheduling-links" in x)
    assert "works" in smart


@pytest.mark.usefixtures("prepmod_broken")
def test_it_stays_documented_with_its_status() -> None:
    rows = {row.name: row for row in provider_rows()}
    assert rows["prepmod"].status == "broken"
    page = render_markdown(list(rows.values()))
    assert f"- Status: broken ({REASON})" in page
    assert "smart-scheduling-links" in page


def test_working_scrapers_are_documented_as_working() -> None:
    page = (REPO / "docs" / "providers.md").read_text()
    assert "- Status: works" in page and "- Status: broken" not in page


@pytest.mark.usefixtures("prepmod_broken")
def test_config_check_warns_but_accepts(config_path: Path) -> None:
    result = CliRunner().invoke(app, ["config", "check", "--config", str(config_path)])
    assert result.exit_code == 0, result.output
    assert "is valid" in " ".join(result.output.split())
    assert f"provider ma-prepmod will be skipped: scraper prepmod is marked broken ({REASON})" in (
        " ".join(result.output.split())
    )
    assert "cvs-ma will be skipped" not in result.output


def test_config_check_says_nothing_when_all_work(config_path: Path) -> None:
    result = CliRunner().invoke(app, ["config", "check", "--config", str(config_path)])
    assert result.exit_code == 0 and "warning" not in result.output


@pytest.mark.usefixtures("prepmod_broken")
async def test_the_service_skips_its_providers_and_logs_why(
    config_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        runtime = Runtime.build(load_config(config_path))
    try:
        assert set(runtime.coordinators) == {"cvs-ma"}
        assert runtime.broken == [("ma-prepmod", "prepmod", REASON)]
        assert any(
            "provider ma-prepmod skipped" in r.getMessage() and REASON in r.getMessage()
            for r in caplog.records
        )
    finally:
        await runtime.aclose()
