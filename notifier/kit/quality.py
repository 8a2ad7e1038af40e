"""The scraper quality scale: bronze < silver < gold < platinum, graded from evidence.

Each scraper keeps ``scrapers/<module>.quality.yaml`` beside its module::

    scraper: prepmod
    tier: gold                  # claimed
    rules:                      # every rule id: done | todo | exempt: reason
      metadata-complete: done
      conditional-requests: exempt: the provider sends no ETag or Last-Modified
      ...

``rule: exempt: reason`` is not strictly YAML, but it is how people write it, so it is read
as ``rule: {exempt: reason}`` (both spellings, and ``"exempt: reason"`` quoted, are accepted).
A tier is earned when every rule of it and of the tiers below is ``done`` and verified
(``notifier.kit.quality_rules`` checks each claim mechanically) or validly exempt. Only the rules
in ``EXEMPTABLE`` may be exempt: the others are always within a scraper's reach.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from notifier.kit.examples import ExampleRun
from notifier.kit.quality_rules import verify_rules
from notifier.plugins import package_dir
from notifier.scraping import SCRAPERS_PACKAGE, Scraper, normalize_name

__all__ = [
    "EXEMPTABLE",
    "RULES",
    "RULE_TIERS",
    "TIERS",
    "Grade",
    "QualityFile",
    "QualityFileError",
    "RuleState",
    "find_quality_file",
    "grade",
    "load_quality",
    "quality_files",
]

TIERS: tuple[str, ...] = ("bronze", "silver", "gold", "platinum")

#: rule id -> what it asks, grouped by the tier that first requires it
RULES: dict[str, tuple[str, str]] = {
    "metadata-complete": ("bronze", "name, provider, regions, maintainer and intervals are set"),
    "recorded-fixture": ("bronze", "an example with expected values passes; SOURCES.md names it"),
    "parse-no-io": ("bronze", "examples pass with the network blocked; no HTTP library imported"),
    "core-client-only": ("bronze", "no httpx/requests/urllib.request/aiohttp/socket imports"),
    "min-interval": ("bronze", "min_interval >= 60 s and default_interval >= min_interval"),
    "none-fixture": ("silver", "an example expects status none (a real 'nothing open' page)"),
    "error-fixture": ("silver", "an example expects a ScrapeError (raises=...)"),
    "optional-fields": ("silver", "an example noted 'optional-fields: f1, f2' lacks those fields"),
    "tz-aware": ("silver", "every valid_at is time-zone aware; by_date keys are dates"),
    "conditional-requests": ("gold", "a 304 sidecar beside a 200 with ETag or Last-Modified"),
    "rate-limits": ("gold", "intervals respect the provider; its rate limit is documented"),
    "full-location-metadata": ("gold", "every location has ZIP, lat/lon, time zone, link/phone"),
    "structured-source": ("platinum", "source_format is api or feed, not html"),
    "fuzz-safe": ("platinum", "mutated fixtures parse or raise ScrapeError, never crash"),
}
RULE_TIERS: dict[str, str] = {rule: tier for rule, (tier, _) in RULES.items()}

#: Rules that may be exempt, and when. Every other rule is within any scraper's reach.
EXEMPTABLE: dict[str, str] = {
    "conditional-requests": "the provider sends no ETag or Last-Modified validators",
    "optional-fields": "the source has no optional fields: every record carries every field",
}

_TOP_LEVEL_KEYS = {"scraper", "tier", "rules"}
# ``rule: exempt: reason  # comment`` -> ``rule: {exempt: "reason"}``
_LOOSE_EXEMPT = re.compile(
    r"^(?P<indent>\s*)(?P<rule>[A-Za-z0-9_-]+)\s*:\s*exempt\s*:\s*(?P<reason>.*?)(?P<comment>\s+#.*)?$"
)


class QualityFileError(ValueError):
    """A quality file that cannot be read; the message names the file and what to fix."""


@dataclass(frozen=True, slots=True)
class RuleState:
    state: Literal["done", "todo", "exempt"]
    reason: str = ""

    def yaml(self) -> str:
        return f"exempt: {self.reason}" if self.state == "exempt" else self.state


@dataclass(frozen=True)
class QualityFile:
    path: Path
    scraper: str
    tier: str
    rules: Mapping[str, RuleState]


def _relax(text: str) -> str:
    lines = []
    for line in text.splitlines():
        match = _LOOSE_EXEMPT.match(line)
        if match:
            reason = match["reason"].strip().strip("'\"")
            line = f"{match['indent']}{match['rule']}: {{exempt: {json.dumps(reason)}}}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _rule_state(path: Path, rule: str, value: object) -> RuleState:
    if value in ("done", "todo"):
        return RuleState("done" if value == "done" else "todo")
    reason: object = None
    if isinstance(value, Mapping) and set(value) == {"exempt"}:
        reason = value["exempt"]
    elif isinstance(value, str) and value.startswith("exempt:"):
        reason = value.removeprefix("exempt:")
    if isinstance(reason, str) and reason.strip():
        return RuleState("exempt", reason.strip())
    if reason is not None:
        raise QualityFileError(f"{path}: rule {rule!r}: an exemption needs a reason")
    raise QualityFileError(
        f"{path}: rule {rule!r} is {value!r}; write done, todo, or exempt: <reason>"
    )


def load_quality(path: Path) -> QualityFile:
    """Read and validate one quality file; every problem names the file."""
    try:
        data = yaml.safe_load(_relax(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise QualityFileError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise QualityFileError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise QualityFileError(f"{path}: expected a mapping with scraper, tier and rules")
    unknown_keys = set(data) - _TOP_LEVEL_KEYS
    if unknown_keys:
        raise QualityFileError(f"{path}: unknown keys {sorted(unknown_keys)}")
    scraper = data.get("scraper")
    if not isinstance(scraper, str) or not scraper.strip():
        raise QualityFileError(f"{path}: 'scraper' must be the registered scraper name")
    tier = data.get("tier")
    if tier not in TIERS:
        raise QualityFileError(f"{path}: tier {tier!r} is not one of {', '.join(TIERS)}")
    rules = data.get("rules")
    if not isinstance(rules, dict):
        raise QualityFileError(f"{path}: 'rules' must map every rule id to done/todo/exempt")
    unknown = sorted(str(r) for r in rules if r not in RULES)
    if unknown:
        raise QualityFileError(
            f"{path}: unknown rule ids {unknown}; known rules: {', '.join(RULES)}"
        )
    missing = [r for r in RULES if r not in rules]
    if missing:
        paste = "\n".join(f"  {r}: todo" for r in missing)
        raise QualityFileError(f"{path}: rules missing (paste under rules:):\n{paste}")
    states = {rule: _rule_state(path, rule, rules[rule]) for rule in RULES}
    return QualityFile(path=path, scraper=normalize_name(scraper), tier=tier, rules=states)


def quality_files() -> list[Path]:
    return sorted(package_dir(SCRAPERS_PACKAGE).glob("*.quality.yaml"))


def find_quality_file(scraper_cls: type[Scraper]) -> Path | None:
    """``scrapers/<module>.quality.yaml``, or another quality file naming this scraper."""
    module = scraper_cls.__module__.rpartition(".")[2]
    own = package_dir(SCRAPERS_PACKAGE) / f"{module}.quality.yaml"
    key = normalize_name(scraper_cls.name)
    candidates = [own, *(p for p in quality_files() if p != own)]
    for path in candidates:
        if not path.is_file():
            continue
        try:
            if load_quality(path).scraper == key:
                return path
        except QualityFileError:
            if path == own:
                return path  # its own file is broken: report that, do not look elsewhere
    return None


# --------------------------------------------------------------------------- grading


@dataclass
class Grade:
    """A quality file measured against the evidence."""

    quality: QualityFile
    #: the highest tier whose rules (and those below) are all met; None below bronze
    earned: str | None
    #: rules required by the claimed tier that are not met, with why
    missing: dict[str, list[str]] = field(default_factory=dict)
    #: rules marked done anywhere whose verification failed
    false_claims: dict[str, list[str]] = field(default_factory=dict)
    #: rules marked todo that already verify (a nudge, never a failure)
    already_true: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.false_claims

    def report(self) -> str:
        q = self.quality
        head = f"{q.path}: {q.scraper} claims {q.tier}, earns {self.earned or 'no tier'}"
        if self.ok:
            return head
        lines = [head]
        if self.missing:
            lines.append(f"Rules {q.tier} needs that are not met (paste under rules:, or fix):")
            lines.extend(_paste(rule, why) for rule, why in self.missing.items())
        extra = {r: w for r, w in self.false_claims.items() if r not in self.missing}
        if extra:
            lines.append("Rules marked done that are not true (paste under rules:, or fix):")
            lines.extend(_paste(rule, why) for rule, why in extra.items())
        return "\n".join(lines)


def _paste(rule: str, why: list[str]) -> str:
    reason = "; ".join(why[:3]) + (f"; and {len(why) - 3} more" if len(why) > 3 else "")
    return f"  {rule}: todo  # {' '.join(reason.split())}"


def _exemption_problem(rule: str) -> list[str]:
    if rule not in EXEMPTABLE:
        return [f"{rule} may not be exempt (only {', '.join(EXEMPTABLE)} may)"]
    return []


def grade(
    quality: QualityFile,
    scraper_cls: type[Scraper],
    *,
    fuzz: bool | None = None,
    runs: list[ExampleRun] | None = None,
) -> Grade:
    """Grade ``quality`` for ``scraper_cls``. ``fuzz`` runs the (slower) fuzz check; by default
    only when fuzz-safe is claimed done. ``runs`` reuses example runs already made."""
    if quality.scraper != normalize_name(scraper_cls.name):
        raise QualityFileError(
            f"{quality.path}: names scraper {quality.scraper!r}, not {scraper_cls.name!r}"
        )
    run_fuzz = quality.rules["fuzz-safe"].state == "done" if fuzz is None else fuzz
    evidence = verify_rules(scraper_cls, fuzz=run_fuzz, runs=runs)
    met: dict[str, list[str]] = {}
    result = Grade(quality=quality, earned=None)
    for rule, state in quality.rules.items():
        if state.state == "done":
            met[rule] = evidence[rule]
            if evidence[rule]:
                result.false_claims[rule] = evidence[rule]
        elif state.state == "exempt":
            met[rule] = _exemption_problem(rule)
        else:
            met[rule] = [f"marked todo: {RULES[rule][1]}"]
            if rule in evidence and not evidence[rule] and (rule != "fuzz-safe" or run_fuzz):
                result.already_true.append(rule)
    for tier in TIERS:
        if any(met[r] for r, t in RULE_TIERS.items() if t == tier):
            break
        result.earned = tier
    claimed = TIERS.index(quality.tier)
    result.missing = {
        rule: met[rule]
        for rule, tier in RULE_TIERS.items()
        if TIERS.index(tier) <= claimed and met[rule]
    }
    return result
