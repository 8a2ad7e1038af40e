"""The X (Twitter) feed: a public broadcast through tweepy's v2 ``Client.create_tweet``.

One message summarises a batch of up to 25 alerts: one post for one location, a short reply
thread (``in_reply_to_tweet_id``) for several, a per-region summary when even the thread would
be too long (see ``channels._x_posts``). Posts stay within 280 weighted characters.

Settings (``channels.x.settings``): OAuth 1.0a user context (``consumer_key``,
``consumer_secret``, ``access_token``, ``access_token_secret``; recommended, it does not
expire) or an OAuth 2.0 *user* access token with ``tweet.write`` as ``bearer_token`` (an
app-only bearer token cannot post). ``dry_run: true`` composes and logs, posts nothing, and
reports ``dry-run-...`` ids.

Rate limit: the posting API is tiny on the free tier (17 posts per user per 24 hours; Basic
allows 100). ``posts_per_24h`` is your tier's number and ``max_thread_posts`` the longest
thread; the dispatcher's bucket then admits ``posts_per_24h // max_thread_posts`` messages per
24 hours, so a burst of threads can never exceed the tier (defaults: 17 // 4 = 4 messages a
day). On the free tier ``max_thread_posts: 1`` gives 17 one-post summaries a day instead.

X's answers map onto the dispatcher's outcomes:

* 201                                   -> sent (the post id; a thread reports every id)
* 403 "duplicate content"               -> sent: the same news is already on the feed
* 429                                   -> retry at ``x-rate-limit-reset`` (or the exhausted
  24-hour limit's reset), given in epoch seconds
* 5xx, timeouts, connection errors      -> retry
* 401, other 403 (credentials, app permissions, suspended account), 400 -> failed for good,
  logged at ERROR. The dispatcher counts them as ``failed`` in ``notifier.pipeline.metrics``, so the
  ops notices' failure-rate check (``notifier.pipeline.ops_notices``) reports them too.

A thread that fails half way is resumed, not restarted, when the dispatcher retries it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import requests
import tweepy
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from requests.adapters import HTTPAdapter

from channels._x_posts import MAX_WEIGHTED_LENGTH, compose_posts, safe_link, weighted_length
from notifier.channel import (
    Audience,
    Channel,
    ChannelLimit,
    Message,
    RateLimit,
    Recipient,
    SendResult,
)
from notifier.http_rules import MAX_RETRY_AFTER_SECONDS, parse_retry_after
from notifier.messaging.render import Locale, normalize_locale
from notifier.model import Alert

__all__ = [
    "DEFAULT_API_BASE_URL",
    "XChannel",
    "XSettings",
    "classify_x_error",
    "retry_after_seconds",
    "x_rate_limit",
]

log = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.twitter.com"  # what tweepy calls; api.x.com is the same API
_URL_PATTERN = r"^https?://[^\s/]+(/[^\s]*)?$"
_OAUTH1_FIELDS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
_PROGRESS_KEPT = 256  # half-posted threads remembered for resumption


class XSettings(BaseModel):
    """``channels.x.settings`` in config.yaml; secrets as ``${ENV_VAR}``."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    consumer_key: SecretStr | None = None
    consumer_secret: SecretStr | None = None
    access_token: SecretStr | None = None
    access_token_secret: SecretStr | None = None
    #: an OAuth 2.0 user-context access token (tweet.write), instead of the four OAuth 1.0a keys
    bearer_token: SecretStr | None = None
    #: compose and log, post nothing
    dry_run: bool = False
    #: the feed's language (en, de, es)
    locale: Locale = "en"
    #: public URL of the web app: links become {base_url}/b/{alert_id}, summaries link to it
    base_url: str | None = Field(None, pattern=_URL_PATTERN)
    #: longest reply thread one message may become
    max_thread_posts: int = Field(4, ge=1, le=10)
    #: your API tier's posts per user per 24 hours (free: 17, basic: 100)
    posts_per_24h: int = Field(17, ge=1)
    #: tests point this at notifier.testing.x_stub
    api_base_url: str = Field(DEFAULT_API_BASE_URL, pattern=_URL_PATTERN)
    timeout: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _credentials(self) -> XSettings:
        # Judge the keys written, not their values: a ${VAR} left unset reads as None, and
        # config check reports that itself (and allows it in a disabled section).
        given = [name for name in _OAUTH1_FIELDS if name in self.model_fields_set]
        if given and len(given) < len(_OAUTH1_FIELDS):
            missing = ", ".join(n for n in _OAUTH1_FIELDS if n not in given)
            raise ValueError(f"OAuth 1.0a needs all four keys; missing: {missing}")
        if not given and "bearer_token" not in self.model_fields_set and not self.dry_run:
            raise ValueError(
                "set consumer_key, consumer_secret, access_token and access_token_secret "
                "(or bearer_token), or dry_run: true"
            )
        return self

    @property
    def oauth1(self) -> bool:
        return all(getattr(self, name) is not None for name in _OAUTH1_FIELDS)


def x_rate_limit(posts_per_24h: int, max_thread_posts: int) -> RateLimit:
    """Messages per 24 h such that full threads never exceed ``posts_per_24h`` posts."""
    return RateLimit(max(1, posts_per_24h // max_thread_posts), 86_400.0)


def retry_after_seconds(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds until X accepts posts again, from its rate-limit headers (epoch seconds)."""
    lower = {k.lower(): v for k, v in headers.items()}
    resets: list[float] = []
    candidates = [("x-rate-limit-reset", None)] + [
        (f"{scope}-reset", f"{scope}-remaining")
        for scope in ("x-user-limit-24hour", "x-app-limit-24hour")
    ]
    for reset_name, remaining_name in candidates:
        value = lower.get(reset_name)
        # A 24-hour limit only matters when it is the one used up.
        if value is None or (remaining_name and lower.get(remaining_name) != "0"):
            continue
        try:
            resets.append(float(value))
        except ValueError:
            continue
    if resets:
        return min(max(1.0, max(resets) - now), MAX_RETRY_AFTER_SECONDS)
    return parse_retry_after(lower.get("retry-after"))


def _detail(body: str) -> str:
    """The human part of an X error body (v2 problem document or v1.1 ``errors``)."""
    try:
        document = json.loads(body)
    except ValueError:
        return " ".join(body.split())[:200] or "no details"
    if isinstance(document, dict):
        if document.get("detail") or document.get("title"):
            return str(document.get("detail") or document.get("title"))
        errors = document.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message") or errors[0])
    return " ".join(body.split())[:200]


def classify_x_error(status: int, body: str, headers: Mapping[str, str], now: float) -> SendResult:
    """Map an X error response onto a ``SendResult`` (see the module docstring)."""
    detail = _detail(body)
    error = f"X HTTP {status}: {detail}"
    if status == 403 and "duplicate content" in body.lower():
        return SendResult.sent(None)
    if status == 429:
        return SendResult.retry(error, retry_after=retry_after_seconds(headers, now))
    if status >= 500:
        return SendResult.retry(error, retry_after=retry_after_seconds(headers, now))
    return SendResult.failed(error)


class _ApiAdapter(HTTPAdapter):
    """Bounds every request with a timeout and, for tests, sends X's host to another base URL."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(max_retries=0)  # retrying is the dispatcher's job
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        url = request.url or ""
        if self.base_url != DEFAULT_API_BASE_URL and url.startswith(DEFAULT_API_BASE_URL):
            request.url = self.base_url + url[len(DEFAULT_API_BASE_URL) :]
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout
        return super().send(request, **kwargs)


def _make_client(settings: XSettings) -> tweepy.Client:
    def secret(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None

    if settings.oauth1:
        client = tweepy.Client(
            consumer_key=secret(settings.consumer_key),
            consumer_secret=secret(settings.consumer_secret),
            access_token=secret(settings.access_token),
            access_token_secret=secret(settings.access_token_secret),
        )
    else:
        client = tweepy.Client(bearer_token=secret(settings.bearer_token))
    client.session.mount(DEFAULT_API_BASE_URL, _ApiAdapter(settings.api_base_url, settings.timeout))
    if settings.api_base_url != DEFAULT_API_BASE_URL:
        client.session.trust_env = False  # a loopback stub must not go through a proxy
    return client


class XChannel(Channel[XSettings]):
    name = "x"
    audience = Audience.BROADCAST
    max_length = ChannelLimit(MAX_WEIGHTED_LENGTH)  # weighted: URLs count 23, CJK 2
    rate_limit = ChannelLimit(x_rate_limit(17, 4))  # per instance: see below
    max_batch = 25

    @staticmethod
    def measure(text: str) -> int:
        """How X counts ``text`` against ``max_length``."""
        return weighted_length(text)

    def __init__(self, settings: BaseModel | Mapping[str, Any] | None = None) -> None:
        super().__init__(settings)
        has_credentials = self.settings.oauth1 or self.settings.bearer_token is not None
        self.client: tweepy.Client | None = _make_client(self.settings) if has_credentials else None
        # idempotency key -> ids of the thread's posts already on X (None: duplicate, no id)
        self._progress: OrderedDict[str, list[str | None]] = OrderedDict()

    @classmethod
    def sample_settings(cls, secret: str = "sample-secret") -> dict[str, Any]:
        return {
            "consumer_key": f"{secret}-ck",
            "consumer_secret": f"{secret}-cs",
            "access_token": f"{secret}-at",
            "access_token_secret": f"{secret}-ats",
            "base_url": "https://alerts.example.org",
        }

    def rate_limit_for_settings(self) -> RateLimit:
        """Full threads within the account's posts per 24 hours."""
        return x_rate_limit(self.settings.posts_per_24h, self.settings.max_thread_posts)

    # ------------------------------------------------------------------ compose (pure)

    def _link(self, alert: Alert) -> str | None:
        if self.settings.base_url and alert.id is not None:
            return f"{self.settings.base_url.rstrip('/')}/b/{alert.id}"
        url = alert.location.booking_url
        return safe_link(url) if url else None

    def compose(self, alerts: Sequence[Alert], recipient: Recipient | None) -> Message:
        posts = compose_posts(
            alerts,
            locale=normalize_locale(self.settings.locale),
            link_for=self._link,
            max_posts=self.settings.max_thread_posts,
            details_link=self.settings.base_url,
        )
        key = "x:" + ",".join(str(a.id) for a in alerts if a.id is not None)
        return Message(text=posts[0], parts=tuple(posts), idempotency_key=key)

    # ------------------------------------------------------------------ send

    def _post(self, text: str, reply_to: str | None) -> SendResult:
        """One ``create_tweet`` call (blocking; runs in a worker thread)."""
        assert self.client is not None
        try:
            response = self.client.create_tweet(
                text=text, in_reply_to_tweet_id=reply_to, user_auth=self.settings.oauth1
            )
        except tweepy.HTTPException as exc:
            answer = exc.response
            return classify_x_error(answer.status_code, answer.text, answer.headers, time.time())
        except requests.Timeout:
            return SendResult.retry(f"X did not answer within {self.settings.timeout:g}s")
        except requests.RequestException as exc:
            return SendResult.retry(f"cannot reach X: {type(exc).__name__}")
        except ValueError as exc:  # a 2xx whose body is not X's JSON
            return SendResult.retry(f"unreadable X response: {type(exc).__name__}")
        try:
            return SendResult.sent(str(response.data["id"]))
        except (AttributeError, KeyError, TypeError):
            return SendResult.retry("X accepted the post but sent no id")

    def _remember(self, key: str, done: list[str | None]) -> None:
        self._progress[key] = done
        self._progress.move_to_end(key)
        while len(self._progress) > _PROGRESS_KEPT:
            self._progress.popitem(last=False)

    async def send(self, message: Message) -> SendResult:
        posts = [p for p in (message.parts or (message.text,)) if p.strip()]
        if not posts:
            return SendResult.failed("nothing to post")
        key = message.idempotency_key or hashlib.sha256("\n".join(posts).encode()).hexdigest()
        if self.settings.dry_run:
            for number, post in enumerate(posts, 1):
                log.info("x dry run, post %d/%d: %s", number, len(posts), post)
            return SendResult.sent("dry-run-" + hashlib.sha256(key.encode()).hexdigest()[:16])
        if self.client is None:
            return SendResult.failed("no X credentials: are their ${ENV_VAR}s set?")
        done = self._progress.get(key) or []
        # Remembered while in flight, so a send the dispatcher's timeout cancels resumes too.
        self._remember(key, done)
        for index in range(len(done), len(posts)):
            reply_to = next((i for i in reversed(done) if i), None)
            result = await asyncio.to_thread(self._post, posts[index], reply_to)
            if result.ok:
                done.append(result.provider_message_id)
                continue
            if result.transient:
                log.info("x post %d/%d will be retried: %s", index + 1, len(posts), result.error)
                return result
            # Credentials, permissions or a malformed post: only the operator can fix it.
            log.error("x post %d/%d refused for good: %s", index + 1, len(posts), result.error)
            if done:
                break  # the thread's head is out: the news reached the feed
            self._progress.pop(key, None)
            return result
        self._progress.pop(key, None)
        ids = [i for i in done if i]
        return SendResult.sent(",".join(ids) if ids else None)

    async def aclose(self) -> None:
        if self.client is not None:
            self.client.session.close()
