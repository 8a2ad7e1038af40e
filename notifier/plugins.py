"""Plugin discovery: importing every module of a package registers what it defines."""

from __future__ import annotations

import importlib
import pkgutil
import typing
from pathlib import Path

from pydantic import BaseModel

__all__ = ["declared_settings", "import_all", "package_dir"]


def import_all(package_name: str) -> None:
    """Import each public module of ``package_name`` (modules starting with ``_`` are helpers)."""
    package = importlib.import_module(package_name)
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package_name}.{info.name}")


def package_dir(package_name: str) -> Path:
    package = importlib.import_module(package_name)
    return Path(next(iter(package.__path__)))


def declared_settings(cls: type, generic_base: type) -> type[BaseModel] | None:
    """The settings model a plugin class names as its base's argument, e.g. ``HebSettings``
    in ``class Heb(Scraper[HebSettings])``; None when this class names none itself.

    A class that assigns ``Settings = ...`` instead is refused: the type argument is the one
    way to declare settings, because only it also types ``self.settings``.
    """
    if "Settings" in cls.__dict__:
        model = getattr(cls.__dict__["Settings"], "__name__", "YourSettings")
        raise TypeError(
            f"{cls.__name__}: declare the settings model as the type argument, "
            f"class {cls.__name__}({generic_base.__name__}[{model}]), not Settings = {model}"
        )
    for base in cls.__dict__.get("__orig_bases__", ()):
        origin = typing.get_origin(base)
        if not (isinstance(origin, type) and issubclass(origin, generic_base)):
            continue
        for argument in typing.get_args(base):
            if isinstance(argument, type) and issubclass(argument, BaseModel):
                return argument
    return None


def validated_settings(
    cls: type, model: type[BaseModel], settings: BaseModel | typing.Mapping[str, typing.Any] | None
) -> BaseModel:
    """A plugin's settings as its own model: validated from a mapping, or checked if built."""
    if isinstance(settings, model):
        return settings
    if isinstance(settings, BaseModel):
        raise TypeError(f"{cls.__name__} needs {model.__name__}, not {type(settings).__name__}")
    return model.model_validate(dict(settings or {}))
