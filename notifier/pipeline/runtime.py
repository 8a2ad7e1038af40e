"""Everything the task functions need, built once per process from the config."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from notifier.channel import Audience, Channel, RateLimit, get_channel
from notifier.config import Config
from notifier.db.engine import make_engine, upgrade
from notifier.db.fanout import ChannelPlan
from notifier.pipeline.coordinator import ProviderCoordinator
from notifier.pipeline.dispatch import Dispatcher, DispatchSettings, make_limiter
from notifier.pipeline.fetch import PoliteClient
from notifier.pipeline.metrics import Metrics
from notifier.pipeline.notices import NoticeSender
from notifier.pipeline.ops_ledger import DatabaseLedger
from notifier.pipeline.ops_notices import OpsNotifier
from notifier.pipeline.shared_limit import DatabaseStateStore
from notifier.pipeline.summary import PollSummary
from notifier.scraping import get_scraper

__all__ = ["Runtime"]

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What the tasks need, built once per process. Closing it releases every connection."""

    config: Config
    engine: Engine
    client: PoliteClient
    coordinators: dict[str, ProviderCoordinator]
    channels: dict[str, Channel]
    dispatchers: dict[str, Dispatcher]
    metrics: Metrics
    plans: list[ChannelPlan]
    ops_notices: OpsNotifier
    #: (provider id, scraper, reason) of configured providers whose scraper is marked broken
    broken: list[tuple[str, str, str]] = field(default_factory=list)
    #: called (in the event loop) after each poll; the demo's live view listens here
    on_poll: list[Callable[[PollSummary], None]] = field(default_factory=list)
    #: sends sign-up confirmations and eligibility notices through the recipient channels
    notices: NoticeSender | None = None

    @classmethod
    def build(
        cls,
        config: Config,
        *,
        engine: Engine | None = None,
        client: PoliteClient | None = None,
        dispatch: DispatchSettings | None = None,
        migrate: bool = True,
        shared_limits: bool = False,
    ) -> Runtime:
        """``shared_limits``: every channel's rate limit, the ops notices' hourly cap and their
        open incidents live in the database, shared by all the processes using it (multi-node
        mode); otherwise each process keeps its own.
        ``dispatch`` replaces the config's ``delivery`` settings (tests shorten the lease)."""
        engine = engine or make_engine(config.database.url, **config.database.engine_options())
        if migrate:
            upgrade(engine)
        client = client or PoliteClient(config.http)
        coordinators = {}
        broken = []
        for provider in config.enabled_providers():
            scraper_cls = get_scraper(provider.scraper)
            if scraper_cls.broken:
                log.warning(
                    "provider %s skipped: scraper %s is marked broken: %s",
                    provider.id,
                    scraper_cls.name,
                    scraper_cls.broken,
                )
                broken.append((provider.id, scraper_cls.name, scraper_cls.broken))
                continue
            coordinators[provider.id] = ProviderCoordinator(
                provider_id=provider.id,
                scraper=scraper_cls(provider.settings),
                client=client,
                interval=max(
                    provider.interval_seconds or scraper_cls.default_interval,
                    scraper_cls.min_interval,
                ),
                jitter=provider.jitter_seconds,
            )
        metrics = Metrics()
        channels: dict[str, Channel] = {}
        dispatchers: dict[str, Dispatcher] = {}
        plans: list[ChannelPlan] = []
        for name, channel_config in config.enabled_channels().items():
            channel = get_channel(name)(channel_config.settings)
            channels[name] = channel
            limit = channel_config.rate_limit
            rate = RateLimit(limit.count, limit.per_seconds) if limit else None
            limiter = None
            if shared_limits:
                store = DatabaseStateStore(engine, f"channel:{name}")
                limiter = make_limiter(rate or channel.rate_limit, store=store)
            dispatchers[name] = Dispatcher(
                engine,
                channel,
                rate_limit=rate,
                settings=dispatch or config.delivery,
                metrics=metrics,
                limiter=limiter,
            )
            plans.append(
                ChannelPlan(
                    channel=name,
                    audience=channel.audience.value,
                    wave_multiple=channel_config.wave_multiple,
                    unknown_count_wave=channel_config.unknown_count_wave,
                    wave_grace_seconds=channel_config.wave_grace_seconds,
                )
            )
        runtime = cls(
            config,
            engine,
            client,
            coordinators,
            channels,
            dispatchers,
            metrics,
            plans,
            OpsNotifier.from_config(
                config, ledger=DatabaseLedger(engine) if shared_limits else None
            ),
            broken,
        )
        runtime.on_poll.append(metrics.observe_poll)  # polls and alerts for /metrics
        secret = config.web.secret_key.get_secret_value() if config.web.secret_key else ""
        recipient_channels = {n: c for n, c in channels.items() if c.audience is Audience.RECIPIENT}
        runtime.notices = NoticeSender(
            engine,
            recipient_channels,
            public_url=config.web.public_url,
            link_secret=secret if len(secret) >= 16 else None,
            # the alerts' limiters: a confirmation counts against the account's rate too
            limiters={n: dispatchers[n].limiter for n in recipient_channels},
        )
        return runtime

    async def aclose(self) -> None:
        await self.ops_notices.aclose()
        await self.client.aclose()
        for channel in self.channels.values():
            await channel.aclose()
        self.engine.dispose()
