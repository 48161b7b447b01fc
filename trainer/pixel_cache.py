"""`PixelCache`: every image of CulTwin ``concepts`` decoded and preprocessed once, kept on disk.

An image of a release is in about ten caption pairs, so decoding it for every pair would decode each
image ten times an epoch, and keeping the pixel values in memory would take 72 GB per process at the
paper's 120k images. The cache instead stores each image once, as the processor's resized and
cropped uint8 pixels (150 KB at 224 px), in one ``.npy`` file that every process and dataloader
worker memory-maps; a batch read from it gets the processor's rescaling and normalisation, which
gives exactly the processor's pixel values (checked when the cache is built; for a processor where
that does not hold the float32 pixel values are stored instead).

Like ``datasets.Dataset.map``'s cache, it is keyed by the dataset's fingerprint and the processor's
configuration and found again by later runs; it is built under a file lock, so the processes of one
launch build it once between them, and written to a temporary folder renamed into place, so a killed
build leaves nothing that looks finished.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import torch
    from datasets import Dataset

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
INDEX = "index.json"
PIXELS = "pixels.npy"
# The processor steps the cache stores the output of; the others run when a batch is read.
STORED_STEPS = {"do_rescale": False, "do_normalize": False}
READ_STEPS = {"do_resize": False, "do_center_crop": False, "input_data_format": "channels_first"}


class ImageRows(Protocol):
    """What the cache reads of `cultureclip.trainer.images.ConceptImages`."""

    concepts: Dataset
    concept_ids: list[str]
    offsets: list[int]

    @property
    def num_images(self) -> int: ...

    def row_images(self, row: int) -> list[dict[str, Any]]: ...


class PixelCacheError(ValueError):
    """A pixel cache folder that cannot be used."""


@dataclass
class PixelCache:
    """An opened pixel cache: image ``i`` (in `ConceptImages` order) is ``pixels[i]``.

    Attributes:
        folder: the cache folder (``index.json`` and ``pixels.npy``).
        stored: ``"uint8"`` (resized and cropped pixels, normalised when read) or ``"float32"``
            (the processor's pixel values).
        problems: image position -> why it cannot be used (`cultureclip.imaging.image_problem`'s message).
        decoded: images this process decoded to build the cache (0 when it was found).
    """

    folder: Path
    stored: str
    problems: dict[int, str]
    decoded: int = 0
    _pixels: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def open(cls, folder: Path, num_images: int) -> PixelCache:
        """Open a finished cache of ``num_images`` images.

        Raises:
            PixelCacheError: the folder's index is unreadable or from another version or image count.
        """
        try:
            index = json.loads((folder / INDEX).read_text())
            matches = index["format"] == FORMAT_VERSION and index["images"] == num_images
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise PixelCacheError(f"The pixel cache {folder} is unreadable ({error}); delete the folder.") from error
        if not matches:
            raise PixelCacheError(
                f"The pixel cache {folder} holds format {index['format']} with {index['images']} images, not format "
                f"{FORMAT_VERSION} with {num_images}; delete the folder."
            )
        return cls(folder, index["stored"], {int(k): v for k, v in index["problems"].items()})

    def __getstate__(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "_pixels": None,
        }  # a spawned worker maps the file itself (a forked one shares the map)

    @property
    def pixels(self) -> np.ndarray:
        """The ``(N, 3, H, W)`` stored pixels, memory-mapped on first use."""
        import numpy as np

        if self._pixels is None:
            try:
                self._pixels = np.load(self.folder / PIXELS, mmap_mode="r")
            except (OSError, ValueError) as error:
                raise PixelCacheError(
                    f"The pixel cache {self.folder} is damaged ({error}); delete the folder."
                ) from error
        return self._pixels

    def pixel_values(self, positions: list[int], image_processor) -> torch.Tensor:
        """The processor's ``(len(positions), 3, H, W)`` pixel values of the images at ``positions``."""
        import torch

        stored = self.pixels[positions]  # a copy, read from the file
        if self.stored == "float32":
            return torch.from_numpy(stored)
        return image_processor(images=list(stored), **READ_STEPS, return_tensors="pt")["pixel_values"]


def cache_key(images: ImageRows, image_processor) -> str:
    """The cache's name: a hash of the format, the concepts' fingerprint and the processor's configuration."""
    parts = [FORMAT_VERSION, images.concepts._fingerprint, image_processor.to_json_string()]
    return hashlib.blake2b(json.dumps(parts).encode(), digest_size=16).hexdigest()


def default_cache_root(images: ImageRows) -> Path | None:
    """Where ``datasets`` caches the concepts (their cache files' folder), or ``None`` for in-memory rows."""
    files = images.concepts.cache_files
    return Path(files[0]["filename"]).parent / "cultureclip-pixels" if files else None


def load_or_build(images: ImageRows, image_processor, root: Path, num_workers: int = 0) -> PixelCache:
    """The pixel cache of ``images`` under ``root``, built first (once, under a file lock) if no run has built it.

    Args:
        images: the concepts' images.
        image_processor: the processor training uses (its configuration is part of the key).
        root: the folder holding caches, one per key.
        num_workers: processes that decode and preprocess while building.
    """
    from filelock import FileLock

    root.mkdir(parents=True, exist_ok=True)
    folder = root / cache_key(images, image_processor)
    with FileLock(str(folder) + ".lock"):
        if folder.exists():
            logger.info("Reading the images' pixel values from the cache %s.", folder)
            return PixelCache.open(folder, images.num_images)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=root))
        try:
            decoded = _build(images, image_processor, staging, num_workers)
            staging.rename(folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    cache = PixelCache.open(folder, images.num_images)
    cache.decoded = decoded
    return cache


def _stored_kind(images: ImageRows, image_processor) -> tuple[str, tuple[int, ...]]:
    """``("uint8", shape)`` when reading stored uint8 pixels gives the processor's values exactly, else float32."""
    import numpy as np
    import torch

    from cultureclip.imaging import decode_verdict

    probe = next((pil for pil, _ in map(decode_verdict, _all_images(images)) if pil is not None), None)
    if probe is None:
        return "float32", ()  # no image decodes: nothing is stored, every image has its problem
    expected = image_processor(images=[probe], return_tensors="pt")["pixel_values"]
    stored = image_processor(images=[probe], **STORED_STEPS, return_tensors="np")["pixel_values"]
    if stored.dtype == np.uint8:
        read = image_processor(images=list(stored), **READ_STEPS, return_tensors="pt")["pixel_values"]
        if torch.equal(read, expected):
            return "uint8", tuple(stored.shape[1:])
    logger.warning(
        "Reading resized uint8 pixels back through %s does not give its pixel values exactly; the pixel cache "
        "stores float32 pixel values instead (4x the disk).",
        type(image_processor).__name__,
    )
    return "float32", tuple(expected.shape[1:])


def _all_images(images: ImageRows):
    for row in range(len(images.concepts)):
        yield from images.row_images(row)


class _ConceptRows:
    """Map-style dataset: row -> (stored pixels of its images that decode, {position in row: problem})."""

    def __init__(self, images: ImageRows, image_processor, stored: str):
        self.images, self.image_processor, self.stored = images, image_processor, stored

    def __len__(self) -> int:
        return len(self.images.concepts)

    def __getitem__(self, row: int):
        from cultureclip.imaging import decode_verdict

        decoded, problems = [], {}
        for position, image in enumerate(self.images.row_images(row)):
            pil, problem = decode_verdict(image)
            if problem:
                problems[position] = problem
            else:
                decoded.append(pil)
        if not decoded:
            return None, problems
        steps = STORED_STEPS if self.stored == "uint8" else {}
        return self.image_processor(images=decoded, **steps, return_tensors="np")["pixel_values"], problems


def _first(items):
    return items[0]


def _build(images: ImageRows, image_processor, staging: Path, num_workers: int) -> int:
    """Decode and preprocess every image into ``staging``; returns how many images were decoded."""
    import numpy as np
    import torch

    stored, shape = _stored_kind(images, image_processor)
    total = images.num_images
    logger.info(
        "Caching the pixel values of %d images (%.1f GB, %s) in %s; later runs reuse them.",
        total,
        total * int(np.prod(shape or (0,))) * np.dtype(stored).itemsize / 1e9,
        stored,
        staging.parent,
    )
    loader = torch.utils.data.DataLoader(
        _ConceptRows(images, image_processor, stored), batch_size=1, collate_fn=_first, num_workers=num_workers
    )
    problems: dict[int, str] = {}
    with open(staging / PIXELS, "wb") as file:  # written in row order: no image is held beyond its row
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(stored)), "fortran_order": False}
        np.lib.format.write_array_header_2_0(file, {**header, "shape": (total, *shape)})
        for row, (values, row_problems) in enumerate(loader):
            count = images.offsets[row + 1] - images.offsets[row]
            pixels = np.zeros((count, *shape), dtype=stored)
            if values is not None:
                if tuple(values.shape[1:]) != shape:
                    raise PixelCacheError(
                        f"The image processor gives pixel values of shape {tuple(values.shape[1:])} for concept "
                        f"{images.concept_ids[row]!r} and {shape} for others; train with a processor that crops "
                        "to one size (crop_size)."
                    )
                pixels[[p for p in range(count) if p not in row_problems]] = values
            file.write(pixels.tobytes())
            problems.update({images.offsets[row] + p: problem for p, problem in row_problems.items()})
        file.flush()
        os.fsync(file.fileno())
    index = {"format": FORMAT_VERSION, "images": total, "stored": stored, "problems": problems}
    with open(staging / INDEX, "w") as file:
        json.dump(index, file)
        file.flush()
        os.fsync(file.fileno())
    return total - len(problems)
