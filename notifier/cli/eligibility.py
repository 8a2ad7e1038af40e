"""``notifier eligibility open GROUP``: open a pre-registration group.

Its members start receiving slot alerts at once, and each is told through their own channel,
in waves, nearest to ``--postal-code`` first (the running service sends the notices: ``notifier
run``, or in multi-node mode the workers, whose notices job is deferred with the notices).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from notifier.cli.config import ConfigOption, load_or_exit
from notifier.config import EnvSettings

__all__ = ["app"]

app = typer.Typer(help="Eligibility groups people pre-register in.", no_args_is_help=True)


@app.command("open")
def open_group(
    group: Annotated[str, typer.Argument(help="The group id, e.g. 65plus.")],
    config: ConfigOption = None,
    postal_code: Annotated[
        str | None, typer.Option(help="Tell people nearest this postal code first.")
    ] = None,
    country: Annotated[str, typer.Option(help="Country of --postal-code: US or DE.")] = "US",
    region: Annotated[
        list[str] | None, typer.Option(help="Only tell members in this region (repeatable).")
    ] = None,
) -> None:
    """Open GROUP: its members get slot alerts from now on and a notice that they can book."""
    from notifier.db.engine import make_engine, upgrade
    from notifier.pipeline.eligibility import open_eligibility

    loaded = load_or_exit(config)
    engine = make_engine(EnvSettings().database_url or loaded.database.url)
    upgrade(engine)
    if loaded.engine == "procrastinate" and engine.dialect.name == "postgresql":
        from notifier.pipeline.engine_procrastinate import notice_deferral

        notice_deferral(engine)  # the first wave goes out at once, not at the next tick
    console = Console()
    try:
        opening = open_eligibility(
            engine,
            group,
            settings=loaded.web.signup,
            postal_code=postal_code,
            country=country.upper(),
            regions=region or [],
        )
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    state = "opened" if opening.newly_opened else "was already open"
    console.print(
        f"group {opening.group} {state}: {opening.notices:,} notice(s) queued "
        f"in {opening.waves} wave(s)"
    )
