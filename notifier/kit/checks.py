"""What ``notifier scraper check`` finds for one scraper, in the order a volunteer fixes it.

Examples come first (a scraper that parses nothing correctly has no tier), then the quality
file. ``failures`` is that ordered list, so ``notifier scraper new`` can show just the first.
"""

from __future__ import annotations

import pprint
from dataclasses import dataclass, field
from pathlib import Path

from notifier.kit.examples import ExampleRun, run_examples
from notifier.kit.quality import Grade, QualityFileError, find_quality_file, grade, load_quality
from notifier.scraping import Scraper

__all__ = ["ScraperCheck", "check_scraper", "paste_example"]


@dataclass
class ScraperCheck:
    scraper: type[Scraper]
    runs: list[ExampleRun]
    grade: Grade | None = None
    quality_path: Path | None = None
    quality_error: str | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def paste_example(run: ExampleRun) -> str:
    """The example rewritten with the suggested expected values, as Python to paste."""
    files = ", ".join(repr(f) for f in run.example.files)
    expect = pprint.pformat(run.suggested, indent=4, width=92, sort_dicts=False)
    return f"Example(\n    files=({files},),\n    expect={expect},\n)"


def check_scraper(scraper_cls: type[Scraper], *, fuzz: bool | None = None) -> ScraperCheck:
    """Run the examples offline (network blocked) and grade the quality file."""
    runs = run_examples(scraper_cls)
    result = ScraperCheck(scraper_cls, runs)
    if not runs:
        result.failures.append("no examples: add Example(files=(...)) to the scraper")
    for run in runs:
        result.failures.extend(f"example {run.label}: {p}" for p in run.problems)
    module = scraper_cls.__module__.rpartition(".")[2]
    path = find_quality_file(scraper_cls)
    if path is None:
        result.failures.append(
            f"no quality file: create scrapers/{module}.quality.yaml "
            "(`notifier scraper new` writes one; format in CONTRIBUTING.md)"
        )
        return result
    result.quality_path = path
    try:
        result.grade = grade(load_quality(path), scraper_cls, fuzz=fuzz, runs=runs)
    except QualityFileError as exc:
        result.quality_error = str(exc)
        result.failures.append(str(exc))
        return result
    if not result.grade.ok:
        result.failures.append(result.grade.report())
    return result
