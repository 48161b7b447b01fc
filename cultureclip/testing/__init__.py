"""Test and demo stand-ins, apart from the method: small random-weight checkpoints (with their
hand-trained BPE) and synthetic training rows. The demo, the tests and TwinWorld use them."""

from cultureclip.lazy import lazy_exports

_EXPORTS = {
    "TinyModelsConfig": ".tiny_models",
    "make_tiny_models": ".tiny_models",
    "make_paper_replicas": ".replicas",
    "synthetic_pair_rows": ".synthetic",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
