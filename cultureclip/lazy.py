"""The one lazy-import style of the package ``__init__`` files: public names load on first use.

Each package lists ``_EXPORTS = {name: ".module"}`` and sets ``__getattr__ = lazy_exports(__name__,
_EXPORTS)``, so importing a package never imports torch, datasets or transformers.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` that imports ``exports[name]`` (relative to ``package``) on first use."""

    def __getattr__(name: str) -> object:
        if name in exports:
            return getattr(import_module(exports[name], package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
