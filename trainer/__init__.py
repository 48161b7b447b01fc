"""Training CultureCLIP: the config, the CulTwin collator and the ``transformers.Trainer`` subclass.

The public names are loaded on first use, so that ``import trainer`` does not import torch.
"""

from importlib import import_module

_EXPORTS = {
    "CultureCLIPConfig": ".config",
    "DataCollatorForCulTwin": ".collator",
    "CultureCLIPTrainer": ".cultureclip_trainer",
    "prepare_model": ".lora",
    "run_training": ".train",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
