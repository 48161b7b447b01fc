"""Training CultureCLIP: the config, the CulTwin collator and the ``transformers.Trainer`` subclass.

The public names are loaded on first use, so that ``import cultureclip.trainer`` does not import torch.
"""

from cultureclip.lazy import lazy_exports

_EXPORTS = {
    "ConceptImages": ".images",
    "CultureCLIPConfig": ".config",
    "DataCollatorForCulTwin": ".collator",
    "CultureCLIPTrainer": ".cultureclip_trainer",
    "prepare_model": ".lora",
    "run_training": ".train",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
