"""The web app: health check, short links, and channel webhooks (see ``notifier.web.app``)."""

from notifier.web.app import create_app

__all__ = ["create_app"]
