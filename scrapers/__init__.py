"""Provider scrapers. Every module here is discovered; see ``notifier.scraping``."""
