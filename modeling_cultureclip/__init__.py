"""CultureCLIP modelling: the twin-aware contrastive loss and the tiny plumbing checkpoints."""

from .tiny_models import TinyModelsConfig, make_tiny_models

__all__ = ["CultureCLIPLoss", "TinyModelsConfig", "make_tiny_models"]


def __getattr__(name: str):
    # The loss imports torch; load it on first use so that importing the package stays fast.
    if name == "CultureCLIPLoss":
        from .loss import CultureCLIPLoss

        return CultureCLIPLoss
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
