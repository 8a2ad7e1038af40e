"""``notifier config check``: every problem in the config file, with file:line and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from notifier.config import Config, ConfigError, EnvSettings, WebConfig, load_config
from notifier.scraping import get_scraper

app = typer.Typer(help="Check the configuration file.", no_args_is_help=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (default: $NOTIFIER_CONFIG or config.yaml)."),
]


def config_path(option: Path | None) -> Path:
    return option or EnvSettings().config


def load_or_exit(option: Path | None) -> Config:
    """Load the config, or print every problem (never a traceback) and exit 2."""
    try:
        return load_config(config_path(option))
    except ConfigError as exc:
        err = Console(stderr=True, highlight=False)
        err.print(f"[red]{len(exc.problems)} problem(s) in the configuration:[/red]")
        for problem in exc.problems:
            err.print(f"  {problem}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None


@app.command("check")
def check(config: ConfigOption = None) -> None:
    """Validate the config file and list every error with file:line, what is wrong, and the fix."""
    loaded = load_or_exit(config)
    console = Console(highlight=False)
    console.print(f"[green]{config_path(config)} is valid.[/green]")
    console.print(
        f"  {len(loaded.enabled_providers())} provider(s) enabled: "
        + (", ".join(p.id for p in loaded.enabled_providers()) or "none")
    )
    console.print(
        f"  {len(loaded.enabled_channels())} channel(s) enabled: "
        + (", ".join(loaded.enabled_channels()) or "none")
    )
    for provider in loaded.enabled_providers():
        scraper = get_scraper(provider.scraper)
        if scraper.broken:
            console.print(
                f"[yellow]warning:[/yellow] provider {provider.id} will be skipped: scraper "
                f"{scraper.name} is marked broken ({scraper.broken})",
                soft_wrap=True,
            )
    if "sms" in loaded.enabled_channels():
        warning = _sms_manage_warning(loaded.web)
        if warning is not None:
            console.print(f"[yellow]warning:[/yellow] {escape(warning)}", soft_wrap=True)


def _sms_manage_warning(web: WebConfig) -> str | None:
    """Why texts answering MANAGE carry no link, or only a bare one (None: all is well)."""
    from notifier.messaging.render import SUPPORTED_LOCALES
    from notifier.web.edge import MAX_DB_INT
    from notifier.web.sms_routes import manage_link_for, manage_links_off, manage_reply

    off = manage_links_off(web)
    if off is not None or web.secret_key is None:
        return (
            f"texts answer MANAGE without a link to the manage page: {off}; "
            "see docs/sms.md (MANAGE)"
        )
    link = manage_link_for(web.public_url, web.secret_key.get_secret_value())(MAX_DB_INT)
    bare = [locale for locale in SUPPORTED_LOCALES if manage_reply(locale, link) == link]
    if bare:
        return (
            f"web.public_url is long: to fit one text, MANAGE replies in {', '.join(bare)} "
            "carry the bare link without words; a shorter public URL keeps them readable"
        )
    return None
