"""Read a scraper's source (never run it) to see which modules it imports.

A scraper must leave the network to the core client. Reading the imports with ``ast`` catches
an HTTP library even in a branch no fixture exercises. Helper modules of the ``scrapers``
package that a scraper imports (``from scrapers._engine import ...``, ``from ._engine import``)
are read too, so moving the import into a helper does not hide it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

__all__ = [
    "HTTP_LIBRARIES",
    "NETWORK_MODULES",
    "ImportedModule",
    "forbidden_imports",
    "imported_modules",
]

#: Libraries that speak HTTP. ``urllib.parse`` is pure and fine; ``urllib.request`` is not.
HTTP_LIBRARIES: tuple[str, ...] = (
    "aiohttp",
    "grequests",
    "http.client",
    "httplib2",
    "httpx",
    "pycurl",
    "requests",
    "tornado.httpclient",
    "treq",
    "urllib.request",
    "urllib3",
    "websockets",
)

#: Anything that can open a connection on its own, including the core client itself: scrapers
#: declare requests and the core makes them, so a scraper never needs any of these.
NETWORK_MODULES: tuple[str, ...] = (
    *HTTP_LIBRARIES,
    "asyncio.streams",
    "ftplib",
    "notifier.pipeline.fetch",
    "smtplib",
    "socket",
    "ssl",
    "telnetlib",
    "urllib.robotparser",
    "xmlrpc.client",
)


@dataclass(frozen=True, slots=True)
class ImportedModule:
    """One import found in a file: the dotted module name and where it is."""

    module: str
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path.name}:{self.line} imports {self.module}"


def _resolve_relative(package: str, level: int, module: str | None) -> str:
    parts = package.split(".")
    base = parts[: len(parts) - (level - 1)] if level > 1 else parts
    return ".".join([*base, module] if module else base)


def imported_modules(path: Path, package: str = "scrapers") -> list[ImportedModule]:
    """Every module ``path`` imports, as absolute dotted names, including dynamic imports
    written with a literal name (``importlib.import_module("httpx")``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[ImportedModule] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(ImportedModule(alias.name, path, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = (
                _resolve_relative(package, node.level, node.module)
                if node.level
                else node.module or ""
            )
            # ``from urllib import request`` imports the module ``urllib.request``.
            found.append(ImportedModule(base, path, node.lineno))
            found.extend(
                ImportedModule(f"{base}.{alias.name}", path, node.lineno) for alias in node.names
            )
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append(ImportedModule(first.value, path, node.lineno))
    return found


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ("__import__", "import_module")
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def _matches(module: str, banned: tuple[str, ...]) -> bool:
    return any(module == b or module.startswith(b + ".") for b in banned)


def _local_file(module: str, package_dir: Path, package: str) -> Path | None:
    """The file of a module inside the scanned package, if ``module`` names one."""
    if not module.startswith(package + "."):
        return None
    relative = Path(*module.split(".")[1:])
    candidates = (package_dir / relative.with_suffix(".py"), package_dir / relative / "__init__.py")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def forbidden_imports(
    target: ModuleType | Path,
    banned: tuple[str, ...] = NETWORK_MODULES,
    *,
    package: str = "scrapers",
) -> list[ImportedModule]:
    """Imports of ``banned`` modules in ``target`` and in the package helpers it imports."""
    if isinstance(target, ModuleType):
        if target.__file__ is None:
            raise ValueError(f"module {target.__name__} has no source file to read")
        start = Path(target.__file__)
    else:
        start = target
    # Scrapers are flat modules of their package, so the package folder is the file's folder.
    package_dir = start.parent
    bad: list[ImportedModule] = []
    seen: set[Path] = set()
    pending = [start.resolve()]
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        for item in imported_modules(path, package):
            if _matches(item.module, banned):
                bad.append(item)
            local = _local_file(item.module, package_dir, package)
            if local is not None:
                pending.append(local.resolve())
    return sorted(set(bad), key=lambda i: (str(i.path), i.line, i.module))
