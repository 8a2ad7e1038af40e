"""The ``notifier`` command line. Each command group lives in its own small module."""

from __future__ import annotations

import typer

from notifier.cli import channels as cli_channels
from notifier.cli import cluster as cli_cluster
from notifier.cli import config as cli_config
from notifier.cli import scraper as cli_scraper
from notifier.cli import service as cli_service

app = typer.Typer(
    help="Appointment Notifier: alerts people the moment scarce appointments open up.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("run")(cli_service.run)
app.command("poll")(cli_service.poll)
app.command("status")(cli_service.status)
app.command("demo")(cli_service.demo)
app.command("worker")(cli_cluster.worker)
app.command("web")(cli_cluster.web)
app.add_typer(cli_config.app, name="config")
app.add_typer(cli_service.db_app, name="db")
app.add_typer(cli_scraper.app, name="scraper")
app.add_typer(cli_channels.app, name="channels")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
