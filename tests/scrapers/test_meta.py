"""Meta-tests: every scraper in ``scrapers/`` obeys the rules, offline, with the network blocked.

They read nothing outside the repository: the README values of shared/fixtures are
transcribed in ``readme_values.py`` and checked against the committed fixture copies.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import shutil
import subprocess
import sys
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from notifier.kit.examples import example_label, run_example_offline
from notifier.kit.netblock import block_network
from notifier.kit.providers_doc import (
    default_doc_path,
    project_scrapers,
    provider_rows,
    render_markdown,
)
from notifier.kit.quality import find_quality_file, grade, load_quality, quality_files
from notifier.kit.quality_rules import metadata_problems, sources_problems
from notifier.kit.replay import META_SUFFIX, responses_for_paths
from notifier.kit.source_scan import NETWORK_MODULES, forbidden_imports
from notifier.plugins import package_dir
from notifier.scraping import Example, Response, Scraper, fixture_dir, normalize_name
from tests.scrapers.readme_values import (
    NOT_CHECKABLE,
    README_VALUES,
    Follows,
    ReadmeValue,
    content_digest,
)

SCRAPERS_DIR = package_dir("scrapers")
ROOT = SCRAPERS_DIR.parent

try:
    SCRAPERS: list[type[Scraper]] = project_scrapers()
    IMPORT_ERROR: str | None = None
except Exception as exc:  # noqa: BLE001 - a broken module must fail one test, not hide every other one
    SCRAPERS, IMPORT_ERROR = [], f"{type(exc).__name__}: {exc}"

BY_NAME = {normalize_name(cls.name): cls for cls in SCRAPERS}
EXAMPLES = [
    pytest.param(cls, example, id=f"{normalize_name(cls.name)}[{i}]:{example_label(example)}")
    for cls in SCRAPERS
    for i, example in enumerate(cls.examples)
]


def scraper_ids(cls: type[Scraper]) -> str:
    return normalize_name(cls.name)


# --------------------------------------------------------------------------- discovery


def test_every_scraper_module_imports() -> None:
    assert IMPORT_ERROR is None, f"a module in scrapers/ does not import: {IMPORT_ERROR}"
    assert SCRAPERS, "no scrapers registered"


def test_names_are_unique_and_every_module_registers_one() -> None:
    names: dict[str, str] = {}
    for info in pkgutil.iter_modules([str(SCRAPERS_DIR)]):
        if info.name.startswith("_"):
            continue  # helpers and shared engines
        module = importlib.import_module(f"scrapers.{info.name}")
        defined = [
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, Scraper)
            and cls.__module__ == module.__name__
            and vars(cls).get("name")
        ]
        assert defined, f"scrapers/{info.name}.py registers no scraper (helpers start with '_')"
        for cls in defined:
            key = normalize_name(cls.name)
            assert key not in names, f"{key!r} is defined in {names.get(key)} and {module.__name__}"
            names[key] = module.__name__
    assert set(names) == set(BY_NAME)


@pytest.mark.parametrize("cls", SCRAPERS, ids=scraper_ids)
def test_metadata_complete(cls: type[Scraper]) -> None:
    assert metadata_problems(cls) == []
    assert cls.min_interval >= 60 and cls.default_interval >= cls.min_interval


@pytest.mark.parametrize("cls", SCRAPERS, ids=scraper_ids)
def test_declares_what_is_none_and_what_is_unknown(cls: type[Scraper]) -> None:
    """Every scraper says, in its own class, what it reads as "nothing to book" and what as a
    failure; docs/providers.md shows both (the doc-is-current test keeps it so)."""
    for field in ("none_when", "unknown_when"):
        declared = cls.__dict__.get(field)
        assert isinstance(declared, tuple) and declared, f"{cls.__name__} must declare {field}"
        assert all(isinstance(text, str) and text.strip() for text in declared)
    doc = render_markdown(provider_rows())
    section = doc.split(f"## {normalize_name(cls.name)}\n", 1)[1].split("\n## ", 1)[0]
    assert all(text.split(" (")[0] in section for text in cls.none_when + cls.unknown_when)


@pytest.mark.parametrize("cls", SCRAPERS, ids=scraper_ids)
def test_no_network_library_imported(cls: type[Scraper]) -> None:
    found = forbidden_imports(sys.modules[cls.__module__], NETWORK_MODULES)
    why = "scrapers leave the network to notifier.pipeline.fetch: "
    assert found == [], why + "; ".join(map(str, found))


# --------------------------------------------------------------------------- examples


@pytest.mark.parametrize("cls", SCRAPERS, ids=scraper_ids)
def test_has_an_example_with_expected_values(cls: type[Scraper]) -> None:
    checked = [e for e in cls.examples if e.expect and e.raises is None]
    assert checked, f"{cls.name}: add an Example(files=..., expect={{...}})"


@pytest.mark.parametrize(("cls", "example"), EXAMPLES)
def test_example_passes_offline(cls: type[Scraper], example: Example) -> None:
    run = run_example_offline(cls, example)
    assert run.network == [], f"tried to use the network: {run.network}"
    assert run.problems == [], "\n".join(run.problems) + "\n" + run.suggestion_text()


@pytest.mark.parametrize("cls", SCRAPERS, ids=scraper_ids)
def test_fixture_sources_are_documented(cls: type[Scraper]) -> None:
    assert sources_problems(cls) == []


# --------------------------------------------------------------------------- quality


@pytest.mark.parametrize("cls", SCRAPERS, ids=scraper_ids)
def test_quality_file_grades_at_claimed_tier(cls: type[Scraper]) -> None:
    path = find_quality_file(cls)
    module = cls.__module__.rpartition(".")[2]
    assert path is not None, f"missing scrapers/{module}.quality.yaml (see CONTRIBUTING.md)"
    result = grade(load_quality(path), cls)
    assert result.ok, result.report()


def test_every_quality_file_names_one_registered_scraper() -> None:
    named: dict[str, Path] = {}
    for path in quality_files():
        quality = load_quality(path)
        assert quality.scraper in BY_NAME, f"{path} names unknown scraper {quality.scraper!r}"
        assert quality.scraper not in named, f"{named.get(quality.scraper)} and {path} collide"
        named[quality.scraper] = path


def test_providers_doc_is_generated_from_code() -> None:
    path = default_doc_path()
    assert path.exists(), "docs/providers.md is missing: run `notifier scraper docs`"
    expected = render_markdown(provider_rows())
    assert path.read_text(encoding="utf-8") == expected, (
        "docs/providers.md is out of date: run `notifier scraper docs`"
    )


# --------------------------------------------------------------------------- README values


@cache
def _fixture_hashes() -> dict[str, tuple[Path, ...]]:
    index: dict[str, list[Path]] = {}
    for path in sorted((SCRAPERS_DIR / "fixtures").rglob("*")):
        if path.is_file() and not path.name.endswith(META_SUFFIX):
            index.setdefault(content_digest(path.read_bytes()), []).append(path)
    return {digest: tuple(paths) for digest, paths in index.items()}


def _digests(path: Path) -> set[str]:
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return {
        content_digest(p.read_bytes())
        for p in files
        if not p.name.endswith(META_SUFFIX) and p.name != "SOURCES.md"
    }


def _scraper_or_xfail(name: str) -> type[Scraper]:
    assert IMPORT_ERROR is None, IMPORT_ERROR
    if normalize_name(name) in BY_NAME:
        return BY_NAME[normalize_name(name)]
    module = SCRAPERS_DIR / f"{name.replace('-', '_')}.py"
    if not module.exists():
        pytest.xfail(f"scraper {name!r} is not written yet (scrapers/{module.name} is missing)")
    pytest.fail(f"scrapers/{module.name} exists but registers no scraper named {name!r}")


def _locate(cls: type[Scraper], value: ReadmeValue) -> tuple[list[Path], Any]:
    """The committed copies of the row's shared files, and settings from a matching example."""
    own = fixture_dir(cls)
    wanted = {f.digest for f in value.files}
    for example in cls.examples:  # the scraper's own example of exactly these files
        paths = [own / f for f in example.files]
        if all(p.exists() for p in paths) and set().union(*map(_digests, paths)) == wanted:
            return paths, example.settings
    copies = []
    for shared in value.files:
        found = _fixture_hashes().get(shared.digest, ())
        assert found, (
            f"shared/fixtures/{shared.path} has no unchanged copy under scrapers/fixtures/: "
            f"copy it into scrapers/fixtures/{normalize_name(cls.name)}/ and list it in SOURCES.md"
        )
        copies.append(next((p for p in found if own in p.parents), found[0]))
    paths = [copies[0].parent] if value.feed else copies
    settings = next(
        (
            e.settings
            for e in cls.examples
            if e.settings and any((own / f) in paths or (own / f) in copies for f in e.files)
        ),
        None,
    )
    return paths, settings


@pytest.mark.parametrize("value", README_VALUES, ids=lambda v: v.id)
def test_readme_value(value: ReadmeValue) -> None:
    cls = _scraper_or_xfail(value.scraper)
    if value.inline_body is not None:
        paths, settings = [], None
    else:
        paths, settings = _locate(cls, value)
    scraper = cls(settings)
    with block_network():
        if value.inline_body is not None:
            responses = [Response.from_body(value.inline_body, headers=dict(value.headers))]
        else:
            responses = responses_for_paths(scraper, paths)
        if value.headers:
            responses = [replace(r, headers={**r.headers, **value.headers}) for r in responses]
        if value.raises is not None:
            with pytest.raises(value.raises):
                scraper.parse_all(responses)
            return
        results = scraper.parse_all(responses)
        problems = [p for check in value.checks for p in check.problems(results)]
        for check in value.checks:
            if isinstance(check, Follows):
                asked = scraper.follow(responses[-1])
                if len(asked) < check.minimum:
                    problems.append(f"follow() asked for {len(asked)} pages, not the next one")
    assert problems == [], f"README: {value.readme}\n" + "\n".join(problems)


def test_readme_gaps_are_explained() -> None:
    assert all(reason.strip() for reason in NOT_CHECKABLE.values())


# --------------------------------------------------------------------------- scaffolding


def _notifier(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd), "COLUMNS": "200", "NO_COLOR": "1"}
    code = "import sys; sys.argv[0] = 'notifier'; from notifier.cli.app import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_new_scaffold_lints_imports_and_shows_first_failure(tmp_path: Path) -> None:
    """`notifier scraper new` in a throw-away copy of the project: nothing lands in the repo."""
    project = tmp_path / "project"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "notifier", project / "notifier", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", project)
    (project / "scrapers").mkdir()
    shutil.copy(SCRAPERS_DIR / "__init__.py", project / "scrapers")

    made = _notifier(["scraper", "new", "demo-clinic", "--region", "US-MA"], project)
    assert made.returncode == 0, made.stdout + made.stderr
    out = " ".join(made.stdout.split())
    assert "First failure" in out and "page.html is missing" in out, out
    assert "notifier scraper record demo-clinic" in out, out
    created = [
        project / "scrapers" / "demo_clinic.py",
        project / "scrapers" / "demo_clinic.quality.yaml",
        project / "scrapers" / "fixtures" / "demo-clinic" / "SOURCES.md",
        project / "tests" / "scrapers" / "test_demo_clinic.py",
    ]
    assert all(p.is_file() for p in created)
    python_files = [str(created[0]), str(created[3])]
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", *python_files], cwd=project, capture_output=True
    )
    assert lint.returncode == 0, lint.stdout
    fmt = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", *python_files],
        cwd=project,
        capture_output=True,
    )
    assert fmt.returncode == 0, fmt.stdout
    assert load_quality(created[1]).tier == "bronze"

    again = _notifier(["scraper", "new", "demo-clinic"], project)
    assert again.returncode == 2 and "already registered" in again.stderr
    bad = _notifier(["scraper", "new", "Demo_Clinic"], project)
    assert bad.returncode == 2 and "invalid name" in bad.stderr
