"""``notifier scraper ...``: the volunteer's commands. ``parse`` is a contract CI relies on.

The kit: ``new`` scaffolds a provider, ``record`` captures live responses as fixtures through
the core polite client, ``check`` runs the examples offline and grades the quality tier,
``list`` and ``docs`` show every provider. CONTRIBUTING.md walks through them in order.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from notifier.kit import providers_doc
from notifier.kit.checks import ScraperCheck, check_scraper, paste_example
from notifier.kit.examples import ExampleRun
from notifier.kit.providers_doc import project_scrapers, provider_rows
from notifier.kit.replay import parse_recorded
from notifier.kit.scaffold import (
    PLACEHOLDER_MAINTAINER,
    PLACEHOLDER_PROVIDER,
    ScaffoldError,
    plan_scaffold,
    write_scaffold,
)
from notifier.scraping import ScrapeError, Scraper, fixture_dir, get_scraper, normalize_name

__all__ = ["app"]

app = typer.Typer(help="Work on provider scrapers offline.", no_args_is_help=True)


@app.command("parse")
def parse_command(
    name: Annotated[str, typer.Argument(help="Registered scraper name; - and _ are the same.")],
    paths: Annotated[
        list[Path],
        typer.Argument(help="Stored responses in fetch order; a directory is a recorded feed."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Parse stored responses with a scraper, offline. Exits 2 on an error page or layout change."""
    try:
        scraper_cls = get_scraper(name)
    except KeyError as exc:
        typer.echo(f"error: {exc.args[0]}", err=True)
        raise typer.Exit(2) from None
    for path in paths:
        if not path.exists():
            typer.echo(f"error: {path}: no such file or directory", err=True)
            raise typer.Exit(2)
    try:
        parsed = parse_recorded(scraper_cls(), paths)
    except ScrapeError as exc:
        reason = " ".join(str(exc).split()) or exc.kind
        typer.echo(f"{exc.kind}: {reason}", err=True)
        raise typer.Exit(2) from None
    except FileNotFoundError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    results = parsed.results
    if as_json:
        document = {
            "scraper": normalize_name(scraper_cls.name),
            "locations": [r.to_json() for r in results],
            "unknown_scopes": list(parsed.unknown_scopes),
        }
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    table = Table(title=f"{scraper_cls.name}: {len(results)} locations")
    for column in ("id", "name", "postal code", "status", "appointments", "dates"):
        table.add_column(column)
    for r in results:
        dates = ", ".join(
            f"{d.isoformat()}={'?' if n is None else n}" for d, n in r.by_date.items()
        )
        table.add_row(
            r.location.id,
            r.location.name,
            r.location.postal_code or "",
            r.status.value,
            "" if r.appointments is None else str(r.appointments),
            dates,
        )
    Console().print(table)
    if parsed.unknown_scopes:
        # Not an error: what was recorded parsed; these parts were not recorded.
        typer.echo(f"unknown (not recorded): {', '.join(parsed.unknown_scopes)}")


# --------------------------------------------------------------------------- the volunteer kit

_console = Console()
_err = Console(stderr=True)


def _load_scraper(name: str) -> type[Scraper]:
    try:
        return get_scraper(name)
    except KeyError as exc:
        _err.print(f"[red]error:[/red] {exc.args[0]}")
        raise typer.Exit(2) from None


def _project_scrapers_or_exit() -> list[type[Scraper]]:
    try:
        return project_scrapers()
    except Exception as exc:  # noqa: BLE001 - a module that fails to import is the report
        _err.print(f"[red]error:[/red] cannot import the scrapers: {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from None


def _print_check(check: ScraperCheck) -> None:
    cls = check.scraper
    table = Table(title=f"{cls.name}: examples (offline, network blocked)", title_justify="left")
    for column in ("example", "result", "details"):
        table.add_column(column, overflow="fold")
    for run in check.runs:
        if run.passed:
            result = "[green]pass[/green]"
        elif run.suggested is not None:
            result = "[yellow]needs values[/yellow]"
        else:
            result = "[red]FAIL[/red]"
        details = "; ".join(run.problems[:3]) if run.problems else _describe_pass(run)
        table.add_row(run.label, result, details)
    _console.print(table)
    for run in check.runs:
        if run.suggested is not None:
            _console.print(f"[bold]Paste into {cls.__module__} (example {run.label}):[/bold]")
            print(paste_example(run))
    if check.grade is not None:
        grade = check.grade
        colour = "green" if grade.ok else "red"
        _console.print(
            f"[{colour}]quality: claims {grade.quality.tier}, "
            f"earns {grade.earned or 'no tier'}[/{colour}] ({check.quality_path})"
        )
        if not grade.ok:
            print(grade.report())
        if grade.already_true:
            _console.print(
                "[cyan]already true, mark them done:[/cyan] " + ", ".join(grade.already_true)
            )
    elif check.failures:
        _console.print(f"[red]quality:[/red] {check.failures[-1]}")


def _describe_pass(run: ExampleRun) -> str:
    if run.example.raises is not None:
        return f"raises {run.example.raises.__name__} as expected"
    return f"{len(run.results or [])} locations as expected"


@app.command("check")
def check_command(
    name: Annotated[str | None, typer.Argument(help="One scraper; default: every one.")] = None,
    fuzz: Annotated[
        bool | None,
        typer.Option("--fuzz/--no-fuzz", help="Fuzz the fixtures (default: if claimed)."),
    ] = None,
) -> None:
    """Run every example offline with the network blocked and grade the quality tier."""
    scrapers = [_load_scraper(name)] if name else _project_scrapers_or_exit()
    if not scrapers:
        _err.print("no scrapers yet: start one with `notifier scraper new NAME`")
        raise typer.Exit(1)
    failed = []
    for cls in scrapers:
        check = check_scraper(cls, fuzz=fuzz)
        _print_check(check)
        if not check.ok:
            failed.append(cls.name)
    if failed:
        _err.print(f"[red]{len(failed)} of {len(scrapers)} failed:[/red] {', '.join(failed)}")
        raise typer.Exit(1)
    _console.print(f"[green]all {len(scrapers)} scrapers pass[/green]")


@app.command("list")
def list_command() -> None:
    """Every scraper: name, provider, regions, claimed tier, and whether it works."""
    _project_scrapers_or_exit()
    table = Table(title="scrapers")
    for column in ("name", "provider", "regions", "source", "tier", "status"):
        table.add_column(column, overflow="fold")
    for row in provider_rows():
        status = (
            "[green]works[/green]" if row.broken is None else f"[red]broken[/red]: {row.broken}"
        )
        table.add_row(
            row.name, row.provider, ", ".join(row.regions), row.source_format, row.tier, status
        )
    _console.print(table)


@app.command("docs")
def docs_command(
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if the page is stale.")] = False,
    output: Annotated[Path | None, typer.Option(help="Default: docs/providers.md.")] = None,
) -> None:
    """Generate docs/providers.md from the scrapers' metadata and quality files."""
    args = ["--check"] if check else []
    if output is not None:
        args += ["--output", str(output)]
    code = providers_doc.main(args)
    if code:
        raise typer.Exit(code)


@app.command("new")
def new_command(
    name: Annotated[str, typer.Argument(help="Lower-case words joined by '-', e.g. 'my-clinic'.")],
    provider: Annotated[str, typer.Option(help="The provider's public name.")] = (
        PLACEHOLDER_PROVIDER
    ),
    region: Annotated[
        list[str] | None, typer.Option("--region", help="Where it serves (repeat), e.g. MA.")
    ] = None,
    maintainer: Annotated[str, typer.Option(help="Your GitHub handle.")] = PLACEHOLDER_MAINTAINER,
    source_format: Annotated[str, typer.Option("--format", help="html, api or feed.")] = "html",
) -> None:
    """Scaffold a scraper, its fixture folder, quality file and test; show the first failure."""
    try:
        plan = plan_scaffold(name)
        written = write_scaffold(
            plan,
            provider=provider,
            regions=tuple(region or ()),
            maintainer=maintainer,
            source_format=source_format,
        )
    except ScaffoldError as exc:
        _err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    for path in written:
        _console.print(f"created {path}")
    importlib.invalidate_caches()
    cls = get_scraper(name)
    check = check_scraper(cls, fuzz=False)
    first = check.failures[0] if check.failures else "none: every check passes"
    _console.print(f"\n[bold]First failure (fix this next):[/bold] {first}")
    _console.print(f"Then: `notifier scraper check {name}` after each step; see CONTRIBUTING.md.")


def _record_settings(
    name: str, settings_json: str | None, config_path: Path | None, provider_id: str | None
) -> tuple[dict[str, Any], Any, str]:
    """Scraper settings, HTTP settings and provider id from --settings / --config."""
    settings: dict[str, Any] = {}
    http = None
    chosen_id = provider_id or normalize_name(name)
    if config_path is not None:
        from notifier.config import ConfigError, load_config  # late: loads every channel

        try:
            config = load_config(config_path)
        except ConfigError as exc:
            _err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        http = config.http
        matches = [
            p
            for p in config.providers
            if normalize_name(p.scraper) == normalize_name(name)
            and (provider_id is None or p.id == provider_id)
        ]
        if len(matches) != 1:
            ids = ", ".join(p.id for p in matches) or "none"
            _err.print(
                f"[red]error:[/red] {config_path}: {len(matches)} providers use scraper "
                f"{name!r} ({ids}); pick one with --provider ID"
            )
            raise typer.Exit(2)
        settings, chosen_id = dict(matches[0].settings), matches[0].id
    if settings_json is not None:
        try:
            extra = json.loads(settings_json)
        except ValueError as exc:
            _err.print(f"[red]error:[/red] --settings is not JSON: {exc}")
            raise typer.Exit(2) from None
        if not isinstance(extra, dict):
            _err.print("[red]error:[/red] --settings must be a JSON object")
            raise typer.Exit(2)
        settings.update(extra)
    return settings, http, chosen_id


@app.command("record")
def record_command(
    name: Annotated[str, typer.Argument(help="Registered scraper name.")],
    settings_json: Annotated[
        str | None,
        typer.Option("--settings", help="Scraper settings as a JSON object."),
    ] = None,
    config_path: Annotated[
        Path | None, typer.Option("--config", help="Take settings from this config.yaml.")
    ] = None,
    provider_id: Annotated[
        str | None, typer.Option("--provider", help="Which provider of --config to record.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Fixture folder; default scrapers/fixtures/<name>/.")
    ] = None,
    max_requests: Annotated[int, typer.Option(min=1, max=200)] = 20,
    mask_bodies: Annotated[
        bool, typer.Option("--mask-bodies", help="Mask phones/emails in text bodies too.")
    ] = False,
    revalidate: Annotated[
        bool,
        typer.Option("--revalidate", help="Ask again with ETag/Last-Modified to record a 304."),
    ] = False,
) -> None:
    """Fetch the scraper's requests (and follows) once, politely, and save them as fixtures."""
    from notifier.kit.record import record  # late: imports the HTTP client

    cls = _load_scraper(name)
    settings, http, chosen_id = _record_settings(name, settings_json, config_path, provider_id)
    try:
        scraper = cls(settings)
    except ValidationError as exc:
        _err.print(f"[red]error:[/red] settings for {name}: {exc}")
        raise typer.Exit(2) from None
    root = out or fixture_dir(cls)
    root.mkdir(parents=True, exist_ok=True)
    result = asyncio.run(
        record(
            scraper,
            root,
            provider_id=chosen_id,
            http=http,
            max_requests=max_requests,
            mask_bodies=mask_bodies,
            revalidate=revalidate,
        )
    )
    table = Table(title=f"recorded into {result.folder}", title_justify="left")
    for column in ("file", "status", "bytes", "url (redacted)"):
        table.add_column(column, overflow="fold")
    for f in result.files:
        table.add_row(f.path.name, str(f.status), str(f.size), f.url)
    _console.print(table)
    for f in result.files:
        if f.personal_data_like:
            state = "masked" if f.masked else "kept (clinic numbers are public; check them)"
            _console.print(
                f"[yellow]{f.path.name}: {f.personal_data_like} phone/email-like strings, "
                f"{state}[/yellow]"
            )
    for url, error in result.failures:
        _err.print(f"[red]failed:[/red] {url}: {error}")
    if result.skipped:
        _err.print(f"[yellow]not fetched (over --max-requests):[/yellow] {len(result.skipped)}")
    if result.files:
        rel = [f.path.relative_to(root).as_posix() for f in result.files if f.status != 304]
        listed = (
            [result.folder.relative_to(root).as_posix()] if cls.source_format == "feed" else rel
        )
        _console.print(f"SOURCES.md updated in {root}. List the files in an example:")
        print("Example(files=(" + ", ".join(repr(p) for p in listed) + ",)),")
    if not result.ok:
        raise typer.Exit(1)
