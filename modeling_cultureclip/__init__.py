"""CultureCLIP modelling: the twin-aware contrastive loss."""

from cultureclip.lazy import lazy_exports

_EXPORTS = {"CultureCLIPLoss": ".loss", "LOSS_TYPES": ".loss", "PUBLIC_LOSS_TYPES": ".loss"}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
