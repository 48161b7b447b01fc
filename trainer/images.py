"""`ConceptImages`: the images of CulTwin ``concepts`` rows, which ``pairs`` rows name by position.

A release stores every image once, in ``concepts`` (``images`` aligned with ``captions``); a pair
names its images as ``(pos_concept_id, pos_image_index)`` and ``(neg_concept_id, neg_image_index)``.
`DataCollatorForCulTwin` looks them up here, and each image is decoded and preprocessed once per
process (each dataloader worker keeps its own cache), however many pairs use it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from datasets import Dataset

ImageKey = tuple[str, int]
"""``(concept_id, position in the concept's images)``."""


class MissingImageError(ValueError):
    """A pair names an image that its ``concepts`` rows do not have."""


class ConceptImages:
    """The undecoded images of CulTwin ``concepts`` rows, and a cache of their pixel values.

    The cache holds the preprocessed pixel values of every image the process has used (3 x H x W
    float32: 600 KB at 224 px, so 72 GB for the paper's 120k images); ``max_cached_images`` bounds
    it, the least recently used image being decoded again when it comes back.

    Args:
        concepts: ``concepts`` rows (a ``datasets.Dataset`` with ``concept_id`` and ``images``), e.g.
            ``load_dataset("org/cultwin", "concepts", split="train")``; concatenate splits to serve
            pairs of several.
        max_cached_images: the most pixel values kept (``None``: every image used, each decoded
            once per process).

    Attributes:
        decoded: images decoded and preprocessed by this process so far (one per distinct image).
    """

    def __init__(self, concepts: Dataset, max_cached_images: int | None = None):
        from datasets import Image, List

        if max_cached_images is not None and max_cached_images < 1:
            raise ValueError(f"max_cached_images={max_cached_images} must be at least 1, or None for no limit.")

        missing = sorted({"concept_id", "images"} - set(concepts.column_names))
        if missing:
            raise ValueError(
                f"The concepts rows lack {missing} (their columns are {concepts.column_names}); pass the CulTwin "
                "'concepts' config of the same release and split as the pairs."
            )
        self.concepts = concepts.select_columns(["concept_id", "images"]).cast_column(
            "images", List(Image(decode=False))
        )
        self._rows = {concept_id: row for row, concept_id in enumerate(self.concepts["concept_id"])}
        self.max_cached_images = max_cached_images
        self._pixels: OrderedDict[ImageKey, torch.Tensor] = OrderedDict()
        self._problems: dict[ImageKey, str | None] = {}
        self.decoded = 0

    def image(self, concept_id: str, index: int) -> dict[str, Any]:
        """The undecoded image ``{"bytes", "path"}`` at ``index`` of ``concept_id``'s images.

        Raises:
            MissingImageError: no such concept, or it has fewer images.
        """
        row = self._rows.get(concept_id)
        if row is None:
            raise MissingImageError(
                f"concept {concept_id!r} has no row in the concepts data; load the 'concepts' config of the same "
                "release and split as the pairs."
            )
        images = self.concepts[row]["images"]
        if not isinstance(index, int) or not 0 <= index < len(images):
            raise MissingImageError(
                f"image index {index!r} of concept {concept_id!r} is out of range (it has {len(images)} images); "
                "the pairs and concepts are from different releases: load both from one."
            )
        return images[index]

    def problem(self, concept_id: str, index: int) -> str | None:
        """What is wrong with an image (``None`` when it can be used); each image is judged once."""
        key = (concept_id, index)
        if key not in self._problems:
            try:
                image = self.image(concept_id, index)
            except MissingImageError as error:
                self._problems[key] = str(error)
            else:
                self._problems[key] = image_verdict(image)
        return self._problems[key]

    def pixel_values(self, keys: list[ImageKey], image_processor) -> torch.Tensor:
        """``(len(keys), 3, H, W)`` pixel values; an image not seen by this process is decoded and preprocessed."""
        import torch

        from cultureclip.imaging import decode_image

        new = [key for key in dict.fromkeys(keys) if key not in self._pixels]
        batch = {}
        if new:
            images = [decode_image(self.image(*key)) for key in new]
            batch = dict(zip(new, image_processor(images=images, return_tensors="pt")["pixel_values"]))
            self.decoded += len(new)
        pixels = torch.stack([batch[key] if key in batch else self._pixels[key] for key in keys])
        for key in dict.fromkeys(keys):
            self._pixels[key] = batch[key] if key in batch else self._pixels[key]
            self._pixels.move_to_end(key)
        while self.max_cached_images is not None and len(self._pixels) > self.max_cached_images:
            self._pixels.popitem(last=False)
        return pixels


def image_verdict(image) -> str | None:
    """Why an image (a PIL image or an undecoded ``{"bytes", "path"}``) cannot be trained on, or
    ``None``: `cultureclip.imaging.image_problem`, the one check every command uses (a full decode)."""
    from PIL import Image

    from cultureclip.imaging import image_problem

    if isinstance(image, Image.Image):
        return None
    if image is None or not (image.get("bytes") or image.get("path")):
        return "is missing"
    return image_problem(image)
