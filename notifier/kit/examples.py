"""Run a scraper's examples offline with the network blocked, keeping what each one produced.

``notifier.kit.replay.run_example`` answers "does it pass"; the kit also needs the parsed
results (to grade location metadata and time zones) and the exception (to explain a failure),
so this module runs the same comparison and keeps both.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from notifier.kit.netblock import NetworkBlocked, block_network
from notifier.kit.replay import check_expectations, parse_paths, summarize
from notifier.model import LocationAvailability
from notifier.scraping import Example, ScrapeError, Scraper, fixture_dir, normalize_name

__all__ = ["ExampleRun", "example_label", "run_example_offline", "run_examples"]


def example_label(example: Example) -> str:
    return ", ".join(example.files) or "(no files)"


@dataclass
class ExampleRun:
    """The outcome of one example: its results (None if parsing raised) and its problems."""

    example: Example
    results: list[LocationAvailability] | None = None
    raised: BaseException | None = None
    problems: list[str] = field(default_factory=list)
    network: list[str] = field(default_factory=list)
    #: ready-to-paste ``expect`` for an example that has none yet
    suggested: dict[str, object] | None = None

    @property
    def label(self) -> str:
        return example_label(self.example)

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def checks_values(self) -> bool:
        """True for an example that asserts parsed values (not an error example, not ``{}``)."""
        return bool(self.example.expect) and self.example.raises is None

    def suggestion_text(self) -> str:
        return json.dumps(self.suggested, indent=4) if self.suggested is not None else ""


def _missing_files(scraper_cls: type[Scraper], example: Example) -> list[str]:
    base = fixture_dir(scraper_cls)
    name = normalize_name(scraper_cls.name)
    if not example.files:
        return ["the example lists no files"]
    return [
        f"fixture {Path('scrapers/fixtures') / name / f} is missing: record it with "
        f"`notifier scraper record {name}` or copy it there, then list it in Example(files=...)"
        for f in example.files
        if not (base / f).exists()
    ]


def _crash(exc: BaseException) -> str:
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" at {Path(where[0].filename).name}:{where[0].lineno}" if where else ""
    return f"crashed with {type(exc).__name__}: {exc}{at} (a scraper raises only ScrapeError)"


def run_example_offline(scraper_cls: type[Scraper], example: Example) -> ExampleRun:
    """Run one example with the network blocked; the run keeps results and problems."""
    run = ExampleRun(example)
    run.problems = _missing_files(scraper_cls, example)
    if run.problems:
        return run
    paths = [fixture_dir(scraper_cls) / f for f in example.files]
    with block_network() as network:
        try:
            run.results = parse_paths(scraper_cls(example.settings), paths)
        except ScrapeError as exc:
            run.raised = exc
        except NetworkBlocked as exc:
            run.raised = exc
        except Exception as exc:  # noqa: BLE001 - reported as the example's failure
            run.raised = exc
    run.network = list(network.attempts)
    if run.network:
        run.problems.append(f"tried to use the network ({', '.join(run.network)})")
    if example.raises is not None:
        if run.raised is None:
            count = len(run.results or [])
            run.problems.append(
                f"expected {example.raises.__name__}, but it parsed {count} locations"
            )
        elif not isinstance(run.raised, example.raises):
            run.problems.append(
                f"expected {example.raises.__name__}, got {type(run.raised).__name__}: {run.raised}"
            )
        return run
    if run.raised is not None:
        if isinstance(run.raised, ScrapeError):
            run.problems.append(f"raised {type(run.raised).__name__}: {run.raised}")
        else:
            run.problems.append(_crash(run.raised))
        return run
    assert run.results is not None
    if not example.expect:  # None, or {} which would assert nothing
        run.suggested = summarize(run.results)
        run.problems.append("no expected values yet; paste the suggested `expect` below")
    else:
        run.problems.extend(check_expectations(run.results, example.expect))
    return run


def run_examples(scraper_cls: type[Scraper]) -> list[ExampleRun]:
    """Every example of ``scraper_cls``, in declaration order."""
    return [run_example_offline(scraper_cls, example) for example in scraper_cls.examples]
