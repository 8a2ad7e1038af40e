"""The web app: the residents' public pages, API and feeds (``public/``), sign-up and manage
pages (``signup/``), channel webhooks, short links, health and metrics (``notifier.web.app``)."""

from notifier.web.app import create_app

__all__ = ["create_app"]
