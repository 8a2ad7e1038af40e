"""The ``notifier`` command line. Each command group lives in its own small module."""

from __future__ import annotations

import typer

from notifier import cli_scraper

app = typer.Typer(
    help="Appointment Notifier: alerts people the moment scarce appointments open up.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(cli_scraper.app, name="scraper")


def main() -> None:
    app()
