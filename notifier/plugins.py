"""Plugin discovery: importing every module of a package registers what it defines."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

__all__ = ["import_all", "package_dir"]


def import_all(package_name: str) -> None:
    """Import each public module of ``package_name`` (modules starting with ``_`` are helpers)."""
    package = importlib.import_module(package_name)
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package_name}.{info.name}")


def package_dir(package_name: str) -> Path:
    package = importlib.import_module(package_name)
    return Path(next(iter(package.__path__)))
