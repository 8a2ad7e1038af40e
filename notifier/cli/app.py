"""The ``notifier`` command line. Each command group lives in its own small module."""

from __future__ import annotations

from typing import Annotated

import typer

from notifier import __version__
from notifier.cli import bench as cli_bench
from notifier.cli import channels as cli_channels
from notifier.cli import cluster as cli_cluster
from notifier.cli import config as cli_config
from notifier.cli import eligibility as cli_eligibility
from notifier.cli import ops as cli_ops
from notifier.cli import scraper as cli_scraper
from notifier.cli import service as cli_service

app = typer.Typer(
    help="Appointment Notifier: alerts people the moment scarce appointments open up.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help: typer's rich panels label every flag with its Python type (`<bool>`).
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"notifier {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Options that come before any command."""


app.command("run")(cli_service.run)
app.command("poll")(cli_service.poll)
app.command("status")(cli_service.status)
# The first sentence would end at "a.m.": give the command list a whole one.
app.command("demo", short_help="Replay the 8 a.m. release against a local simulator.")(
    cli_service.demo
)
app.command("bench")(cli_bench.bench)
app.command("worker")(cli_cluster.worker)
app.command("web")(cli_cluster.web)
app.add_typer(cli_config.app, name="config")
app.add_typer(cli_service.db_app, name="db")
app.add_typer(cli_scraper.app, name="scraper")
app.add_typer(cli_channels.app, name="channels")
app.add_typer(cli_ops.app, name="ops")
app.add_typer(cli_eligibility.app, name="eligibility")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
