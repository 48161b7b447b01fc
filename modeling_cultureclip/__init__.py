"""CultureCLIP modelling: the twin-aware contrastive loss and the tiny plumbing checkpoints."""

from .tiny_models import TinyModelsConfig, make_tiny_models

__all__ = ["TinyModelsConfig", "make_tiny_models"]
