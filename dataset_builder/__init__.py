"""CulTwin: the data pipeline (taxonomy, concepts, twins, captions, images, quality filter) and
the ``datasets`` builder of the released dataset.

Importing the package stays light: the builder and release API load ``datasets`` only when used.
"""

from cultureclip.lazy import lazy_exports

_EXPORTS = {
    "CulTwin": ".cultwin",
    "CulTwinConfig": ".cultwin",
    "build_release": ".release",
    "ReleaseConfig": ".release",
    "validate_release": ".validate",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
