"""``notifier ops test``: check that ops notices reach the people who run the service.

Ops notices (provider down, failing deliveries, start/stop) are configured in the top-level
``ops_notices`` section of config.yaml; see ``notifier.pipeline.ops_notices``.
"""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from notifier.cli.config import ConfigOption, config_path, load_or_exit
from notifier.pipeline.ops_notices import OpsNotifier

__all__ = ["app"]

app = typer.Typer(help="Ops notices: notices about the service itself.", no_args_is_help=True)


@app.command("test")
def send_test(config: ConfigOption = None) -> None:
    """Send one test notice to every ``ops_notices`` target and print each outcome."""
    loaded = load_or_exit(config)
    notifier = OpsNotifier.from_config(loaded)
    console = Console(highlight=False)
    if not notifier.plugins:
        Console(stderr=True, highlight=False).print(
            f"ops_notices has no targets in {config_path(config)}: notices go to the log only. "
            "Add Apprise URLs under ops_notices.targets to test them.",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)
    failed = set(asyncio.run(notifier.send_test()))
    for label, _ in notifier.plugins:
        if label in failed:
            console.print(f"[red]{label}: not sent[/red]")
        else:
            console.print(f"[green]{label}: sent[/green]")
    if failed:
        raise typer.Exit(1)
