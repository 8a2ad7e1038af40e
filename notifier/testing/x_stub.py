"""A stand-in for X's ``POST /2/tweets`` on 127.0.0.1, for the X channel's tests and the demo.

It answers the way the X API v2 does, with the same status codes, headers and problem
documents:

* success: ``201 {"data": {"id": "...", "text": "..."}}``, ids counting up;
* a text it has already accepted: ``403`` "You are not allowed to create a Tweet with
  duplicate content." (X refuses duplicates of recent posts the same way);
* no ``Authorization`` header, or OAuth for another consumer key: ``401``;
* whatever a test queued first: ``rate_limited()`` (429 with ``x-rate-limit-reset``),
  ``duplicate()``, ``unauthorized()``, ``forbidden()``, ``server_error()``, or
  ``passthrough()`` (answer that request normally: ``queue(passthrough(), server_error())``
  fails the second post of a thread).

Every request is recorded (``requests``); accepted posts are in ``posts`` with the id they
replied to, so a test can check a thread is a real reply chain::

    with XStub(consumer_key="ck") as stub:
        settings = {"api_base_url": stub.url, "consumer_key": "ck", ...}
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

from notifier.testing.webhook_stub import RecordedRequest, StubReply, WebhookStub

__all__ = ["DUPLICATE_DETAIL", "Post", "XStub"]

DUPLICATE_DETAIL = "You are not allowed to create a Tweet with duplicate content."
_FIRST_ID = 1_890_000_000_000_000_000
_PASSTHROUGH = StubReply(status=0)


@dataclass(frozen=True, slots=True)
class Post:
    id: str
    text: str
    in_reply_to: str | None


def _problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> StubReply:
    document = {"title": title, "detail": detail, "type": "about:blank", "status": status}
    return StubReply.json(status, document, headers)


class XStub(WebhookStub):
    """``with XStub() as stub: ...``; ``consumer_key``/``bearer_token`` enable credential checks."""

    def __init__(self, consumer_key: str | None = None, bearer_token: str | None = None) -> None:
        super().__init__()
        self.consumer_key = consumer_key
        self.bearer_token = bearer_token
        self.posts: list[Post] = []
        self._ids = itertools.count(_FIRST_ID)

    # ------------------------------------------------------------------ scripted replies

    @staticmethod
    def passthrough() -> StubReply:
        return _PASSTHROUGH

    @staticmethod
    def rate_limited(reset_in: float = 900.0, *, reset_at: int | None = None) -> StubReply:
        reset = reset_at if reset_at is not None else int(time.time() + reset_in)
        headers = {
            "x-rate-limit-limit": "17",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(reset),
        }
        return _problem(429, "Too Many Requests", "Too Many Requests", headers)

    @staticmethod
    def duplicate() -> StubReply:
        return _problem(403, "Forbidden", DUPLICATE_DETAIL)

    @staticmethod
    def unauthorized() -> StubReply:
        return _problem(401, "Unauthorized", "Unauthorized")

    @staticmethod
    def forbidden() -> StubReply:
        return _problem(
            403,
            "Forbidden",
            "You are not permitted to perform this action.",
        )

    @staticmethod
    def server_error(status: int = 503) -> StubReply:
        return _problem(status, "Service Unavailable", "Service Unavailable")

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.posts.clear()

    # ------------------------------------------------------------------ behaviour

    def _authorized(self, request: RecordedRequest) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return self.bearer_token is None or header == f"Bearer {self.bearer_token}"
        if header.startswith("OAuth "):
            return (
                self.consumer_key is None or f'oauth_consumer_key="{self.consumer_key}"' in header
            )
        return False

    def respond(self, request: RecordedRequest) -> StubReply:
        with self._lock:
            scripted = self.replies.popleft() if self.replies else None
        if scripted is not None and scripted is not _PASSTHROUGH:
            return scripted
        if request.method != "POST" or request.path.split("?")[0] != "/2/tweets":
            return _problem(404, "Not Found Error", f"no route {request.method} {request.path}")
        if not self._authorized(request):
            return self.unauthorized()
        try:
            document = request.json
        except ValueError:
            return _problem(400, "Invalid Request", "body is not JSON")
        text = document.get("text")
        if not isinstance(text, str) or not text.strip():
            return _problem(400, "Invalid Request", "text is required")
        reply_to = (document.get("reply") or {}).get("in_reply_to_tweet_id")
        with self._lock:
            if any(post.text == text for post in self.posts):
                return self.duplicate()
            post = Post(str(next(self._ids)), text, reply_to)
            self.posts.append(post)
        return StubReply.json(
            201, {"data": {"id": post.id, "text": text, "edit_history_tweet_ids": [post.id]}}
        )
