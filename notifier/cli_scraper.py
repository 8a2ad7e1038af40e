"""``notifier scraper ...``: the volunteer's commands. ``parse`` is a contract CI relies on."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from notifier.offline import parse_paths
from notifier.scraping import ScrapeError, get_scraper, normalize_name

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
        results = parse_paths(scraper_cls(), paths)
    except ScrapeError as exc:
        reason = " ".join(str(exc).split()) or exc.kind
        typer.echo(f"{exc.kind}: {reason}", err=True)
        raise typer.Exit(2) from None
    except FileNotFoundError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        document = {
            "scraper": normalize_name(scraper_cls.name),
            "locations": [r.to_json() for r in results],
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
