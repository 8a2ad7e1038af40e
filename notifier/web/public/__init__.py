"""The residents' front door: pre-rendered pages, JSON, SMART and Atom feeds, and health.

``snapshot`` (the state, pure) -> ``pages``, ``api``, ``atom``, ``smart_feed`` (pure renderers)
-> ``publish`` (debounced, atomic writes) -> ``static`` / ``fast_http`` (served from memory).
``routes.register`` adds the dynamic routes; ``health`` the health checks. See docs/web.md.
"""
