"""The one way every loopback stub starts and stops, and is used as a context manager."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["BackgroundService"]


class BackgroundService:
    """Subclasses implement ``start() -> Self`` and ``stop()``; ``with`` calls them."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
