"""A CLIP model with its processor, encoding images and texts in batches through an embedding store.

Every embedding is L2-normalised (in float32, whatever the model's dtype), so a dot product is the
cosine similarity CLIP's logits scale. The next batch of images is decoded in a background thread
while the current one is encoded, and embeddings come back to the host once per call, not per batch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field

from .cache import EmbeddingStore


@dataclass
class EncodingStats:
    """How much work one benchmark run did (0 encoded on a cached re-run)."""

    images_encoded: int = 0
    texts_encoded: int = 0
    images_cached: int = 0
    texts_cached: int = 0


@dataclass
class ClipEncoder:
    """A loaded CLIP model that encodes images and texts in batches.

    Build one with `load_encoder`; pass it as ``model`` to `cultureclip.evaluation.evaluate` to evaluate several
    benchmarks without loading (and fingerprinting) the model again.

    Args:
        model: a `transformers.CLIPModel` (or any model with ``get_image_features`` /
            ``get_text_features``).
        processor: its `transformers.CLIPProcessor`.
        name_or_path: the Hub id or path it was loaded from, for the results.
        revision: the Hub commit it was loaded from, when known.
        batch_size: images or texts per forward pass.
        progress: show progress bars.
    """

    model: object
    processor: object
    name_or_path: str | None = None
    revision: str | None = None
    batch_size: int = 64
    progress: bool = False
    _fingerprint: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self):
        if self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size} must be at least 1.")

    @property
    def device(self):
        return next(self.model.parameters()).device

    @property
    def dtype(self):
        return next(self.model.parameters()).dtype

    @property
    def fingerprint(self) -> str:
        """SHA-256 of what decides an embedding: the weights, the model config (activation, norms...),
        the image preprocessing and the whole tokenizer. The model half of the cache key."""
        if self._fingerprint is None:
            import torch

            digest = hashlib.sha256()
            for name, tensor in sorted(self.model.state_dict().items()):
                digest.update(name.encode())
                digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
            tokenizer = self.processor.tokenizer
            backend = getattr(tokenizer, "backend_tokenizer", None)
            settings = {
                "model": _without_provenance(self.model.config.to_dict()),
                "image_processor": _without_provenance(self.processor.image_processor.to_dict()),
                "tokenizer": _without_provenance(dict(tokenizer.init_kwargs)),
                "tokens": _tokenizer_state(backend) if backend is not None else sorted(tokenizer.get_vocab().items()),
            }
            digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def describe(self) -> dict:
        """The model entry of a results JSON."""
        return {"name_or_path": self.name_or_path, "revision": self.revision, "fingerprint": self.fingerprint}

    def encode_texts(self, texts: Iterable[str], store: EmbeddingStore, stats: EncodingStats) -> None:
        """Encode each distinct text not yet in ``store`` (once), in batches."""

        wanted = list(dict.fromkeys(texts))
        todo = [text for text in wanted if text not in store.texts]
        stats.texts_cached += len(wanted) - len(todo)
        max_length = self.model.config.text_config.max_position_embeddings
        embeds = []
        for batch in self._batches(todo, "texts"):
            tokens = self.processor.tokenizer(
                batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            ).to(self.device)
            with self._inference():
                embeds.append(self.model.get_text_features(**tokens).pooler_output)
        store.texts.update(zip(todo, _normalised(embeds)))
        stats.texts_encoded += len(todo)

    def encode_images(
        self, keys: Iterable[str], read: Callable[[str], bytes], store: EmbeddingStore, stats: EncodingStats
    ) -> None:
        """Encode each distinct image key not yet in ``store``; ``read(key)`` gives its bytes.

        Images are decoded with `cultureclip.imaging.decode_image` (as ``datasets`` and the processor
        would). Images that fail to decode are recorded in ``store.unreadable`` with the reason, never
        replaced by a placeholder.
        """
        from concurrent.futures import ThreadPoolExecutor
        from itertools import chain

        wanted = list(dict.fromkeys(keys))
        todo = [key for key in wanted if key not in store.images and key not in store.unreadable]
        stats.images_cached += len(wanted) - len(todo)
        encoded, embeds = [], []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as decoder:
            pending = None
            for batch in chain(self._batches(todo, "images"), [None]):  # decode batch k+1 while k encodes
                upcoming = decoder.submit(self._decode, batch, read, store) if batch is not None else None
                if pending is not None:
                    decoded, pixels = pending.result()
                    if decoded:
                        with self._inference():
                            pixel_values = pixels.to(self.device, self.dtype, non_blocking=True)
                            embeds.append(self.model.get_image_features(pixel_values=pixel_values).pooler_output)
                        encoded += decoded
                pending = upcoming
        store.images.update(zip(encoded, _normalised(embeds)))
        stats.images_encoded += len(encoded)

    def _decode(self, batch: list[str], read: Callable[[str], bytes], store: EmbeddingStore):
        """The keys of ``batch`` that decode and their preprocessed pixels; the others go to ``store.unreadable``."""
        from cultureclip.imaging import decode_image

        images, decoded = [], []
        for key in batch:
            data = read(key)  # a key that cannot be read is a bug, not an unreadable image
            try:
                images.append(decode_image(data))
                decoded.append(key)
            except Exception as error:  # any decoding failure is reported, not scored
                store.unreadable[key] = f"{type(error).__name__}: {error}"
        if not images:
            return decoded, None
        return decoded, self.processor.image_processor(images=images, return_tensors="pt")["pixel_values"]

    @contextmanager
    def _inference(self):
        """Eval mode without gradients, then every module back in the mode it was in (a training
        callback's model keeps its dropout)."""
        import torch

        modes = {module: module.training for module in self.model.modules()}
        self.model.eval()
        try:
            with torch.inference_mode():
                yield
        finally:
            for module, training in modes.items():
                module.training = training

    def _batches(self, items: list, what: str):
        from tqdm.auto import tqdm

        starts = range(0, len(items), self.batch_size)
        bar = tqdm(starts, desc=f"encoding {what}", unit="batch", disable=not self.progress or not items)
        for start in bar:
            yield items[start : start + self.batch_size]


def _without_provenance(settings):
    """``settings`` without where they were loaded from or written by (paths, versions, private keys)."""
    if isinstance(settings, dict):
        return {
            key: _without_provenance(value)
            for key, value in settings.items()
            if not str(key).startswith("_") and key not in ("name_or_path", "transformers_version")
        }
    return settings


def _tokenizer_state(backend) -> dict:
    """A ``tokenizers.Tokenizer`` as JSON, without the padding and truncation that each call sets."""
    state = json.loads(backend.to_str())
    return {key: value for key, value in state.items() if key not in ("padding", "truncation")}


def _normalised(batches: list) -> list:
    """The rows of the embedding batches, L2-normalised in float32, brought to the host in one copy."""
    import torch

    if not batches:
        return []
    return list(torch.nn.functional.normalize(torch.cat(batches).float(), dim=-1).cpu())


def load_encoder(
    model: str | object,
    processor: object | None = None,
    *,
    device: str | None = None,
    dtype: str | None = None,
    batch_size: int = 64,
    revision: str | None = None,
    progress: bool = False,
) -> ClipEncoder:
    """A `ClipEncoder` from a Hub id or local path, or from an already loaded model and processor.

    Args:
        model: a Hub id or local folder of a `CLIPModel`, or a loaded model.
        processor: the model's processor; loaded from ``model`` when it is a path or id.
        device: ``"cpu"``, ``"cuda"``, ... (default: this process's accelerator for a Hub id or path,
            `cultureclip.devices.default_device`; where it already is for a loaded model).
        dtype: ``"float32"``, ``"float16"``, ``"bfloat16"`` or ``"auto"`` (half precision on a GPU,
            `cultureclip.devices.resolve_dtype`); default: float32 for a Hub id or path, the loaded
            model's own. The embeddings cache is kept per dtype (the weights' bytes are in its key).
        batch_size: images or texts per forward pass.
        revision: Hub revision to load (branch, tag or commit); it is resolved to the commit that is
            read, which the results record. With a loaded model: the revision it came from, if known.
        progress: show progress bars.
    """
    from transformers import CLIPModel, CLIPProcessor

    from cultureclip.dataset_builder.revisions import resolve_revision
    from cultureclip.devices import default_device, resolve_dtype

    name_or_path = None
    if isinstance(model, str):
        name_or_path = model
        revision = resolve_revision(model, revision, "model")  # results name the commit that was read
        processor = processor or CLIPProcessor.from_pretrained(model, revision=revision)
        model = CLIPModel.from_pretrained(model, revision=revision)
        device = device or default_device()
    elif processor is None:
        raise ValueError(
            "A loaded model needs its processor: pass processor=CLIPProcessor.from_pretrained(...), "
            "or pass the model's Hub id or path instead."
        )
    else:
        name_or_path = getattr(model.config, "_name_or_path", None) or None
    if device is not None:
        model = model.to(device)
    if dtype is not None:
        model = model.to(resolve_dtype(dtype, next(model.parameters()).device))
    return ClipEncoder(model, processor, name_or_path, revision, batch_size=batch_size, progress=progress)
