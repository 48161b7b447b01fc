"""CulTwin: the data pipeline (taxonomy, concepts, twins, captions, images, quality filter) and
the ``datasets`` builder of the released dataset.

Importing the package stays light: the builder and release API load ``datasets`` only when used.
"""

import importlib

_LAZY = {
    "CulTwin": "cultwin",
    "CulTwinConfig": "cultwin",
    "build_release": "release",
    "ReleaseConfig": "release",
    "validate_release": "validate",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_LAZY)
