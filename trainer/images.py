"""`ConceptImages`: the images of CulTwin ``concepts`` rows, which ``pairs`` rows name by position.

A release stores every image once, in ``concepts`` (``images`` aligned with ``captions``); a pair
names its images as ``(pos_concept_id, pos_image_index)`` and ``(neg_concept_id, neg_image_index)``.
`DataCollatorForCulTwin` looks them up here. After `ConceptImages.cache_pixels` (which ``cultureclip
train`` calls) each image has been decoded and preprocessed once, into a `PixelCache` on disk that
every process and dataloader worker reads; without it an image is decoded each time a batch uses it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from datasets import Dataset

    from .pixel_cache import PixelCache

ImageKey = tuple[str, int]
"""``(concept_id, position in the concept's images)``."""


class MissingImageError(ValueError):
    """A pair names an image that its ``concepts`` rows do not have."""


class ConceptImages:
    """The undecoded images of CulTwin ``concepts`` rows, and optionally their `PixelCache`.

    Args:
        concepts: ``concepts`` rows (a ``datasets.Dataset`` with ``concept_id`` and ``images``), e.g.
            ``load_dataset("org/cultwin", "concepts", split="train")``; concatenate splits to serve
            pairs of several.

    Attributes:
        concept_ids: the concepts, in row order.
        offsets: where each row's images start in the concatenation of every row's images (one
            more entry than rows: the last is the number of images).
        pixels: the `PixelCache` once `cache_pixels` has run.
        decoded: images decoded by this process outside the cache (batches read without a cache).
    """

    def __init__(self, concepts: Dataset):
        import pyarrow.compute as pc
        from datasets import Image, List

        missing = sorted({"concept_id", "images"} - set(concepts.column_names))
        if missing:
            raise ValueError(
                f"The concepts rows lack {missing} (their columns are {concepts.column_names}); pass the CulTwin "
                "'concepts' config of the same release and split as the pairs."
            )
        self.concepts = concepts.select_columns(["concept_id", "images"]).cast_column(
            "images", List(Image(decode=False))
        )
        self.concept_ids: list[str] = list(self.concepts["concept_id"])
        self._rows = {concept_id: row for row, concept_id in enumerate(self.concept_ids)}
        self.offsets = [0]
        for batch in self.concepts.with_format("arrow").iter(batch_size=10_000):
            for count in pc.list_value_length(batch["images"]).fill_null(0).to_pylist():
                self.offsets.append(self.offsets[-1] + count)
        self.pixels: PixelCache | None = None
        self.decoded = 0

    @property
    def num_images(self) -> int:
        return self.offsets[-1]

    def row_images(self, row: int) -> list[dict[str, Any]]:
        """The undecoded images ``{"bytes", "path"}`` of row ``row``."""
        return self.concepts[row]["images"] or []

    def position(self, concept_id: str, index: int) -> int:
        """Where image ``index`` of ``concept_id`` is among all the rows' images.

        Raises:
            MissingImageError: no such concept, or it has fewer images.
        """
        row = self._rows.get(concept_id)
        if row is None:
            raise MissingImageError(
                f"concept {concept_id!r} has no row in the concepts data; load the 'concepts' config of the same "
                "release and split as the pairs."
            )
        count = self.offsets[row + 1] - self.offsets[row]
        if not isinstance(index, int) or not 0 <= index < count:
            raise MissingImageError(
                f"image index {index!r} of concept {concept_id!r} is out of range (it has {count} images); "
                "the pairs and concepts are from different releases: load both from one."
            )
        return self.offsets[row] + index

    def image(self, concept_id: str, index: int) -> dict[str, Any]:
        """The undecoded image ``{"bytes", "path"}`` at ``index`` of ``concept_id``'s images.

        Raises:
            MissingImageError: no such concept, or it has fewer images.
        """
        self.position(concept_id, index)
        return self.row_images(self._rows[concept_id])[index]

    def problem(self, concept_id: str, index: int) -> str | None:
        """What is wrong with an image (``None`` when it can be used): from the cache, or a full decode."""
        try:
            position = self.position(concept_id, index)
        except MissingImageError as error:
            return str(error)
        if self.pixels is not None:
            return self.pixels.problems.get(position)
        return image_verdict(self.image(concept_id, index))

    def cache_pixels(self, image_processor, root: str | Path | None = None, num_workers: int = 0) -> Path:
        """Decode and preprocess every image once into a `PixelCache` (or find the one a run already built).

        Args:
            image_processor: the processor training uses.
            root: where caches are kept (default: next to the concepts' ``datasets`` cache files, as
                ``Dataset.map`` caches; required for in-memory concepts, which have none).
            num_workers: processes that decode while building.

        Returns:
            The cache folder.
        """
        from .pixel_cache import default_cache_root, load_or_build

        root = Path(root) if root is not None else default_cache_root(self)
        if root is None:
            raise ValueError(
                "These concepts rows are in memory (no datasets cache files), so the pixel cache has no default "
                "folder; pass one (CultureCLIPConfig.pixel_cache_dir, --pixel_cache_dir)."
            )
        self.pixels = load_or_build(self, image_processor, root, num_workers)
        return self.pixels.folder

    def pixel_values(self, keys: list[ImageKey], image_processor) -> torch.Tensor:
        """``(len(keys), 3, H, W)`` pixel values: read from the cache, or decoded and preprocessed now."""
        from cultureclip.imaging import decode_image

        if self.pixels is not None:
            return self.pixels.pixel_values([self.position(*key) for key in keys], image_processor)
        unique = list(dict.fromkeys(keys))
        values = image_processor(images=[decode_image(self.image(*key)) for key in unique], return_tensors="pt")
        self.decoded += len(unique)
        return values["pixel_values"][[unique.index(key) for key in keys]]


def image_verdict(image) -> str | None:
    """Why an image (a PIL image or an undecoded ``{"bytes", "path"}``) cannot be trained on, or
    ``None``: `cultureclip.imaging.image_problem`, the one check every command uses (a full decode)."""
    from cultureclip.imaging import decode_verdict

    return decode_verdict(image)[1]
