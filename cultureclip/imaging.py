"""Decoding images as `datasets` and transformers do, and the one check of an image file.

Every command decodes images through `decode_image` and judges them with `image_problem`, so an
image reaches the model as it would through ``load_dataset`` and a CLIP processor (EXIF
orientation applied, transparency composited on white), and a file that one command rejects is
rejected by all of them.
"""

from __future__ import annotations

import io
import os
from typing import Any


def open_image(source: Any):
    """Open and fully decode an image exactly as ``datasets.Image().decode_example`` does.

    The pixels are loaded (a truncated file fails here, not later) and an EXIF orientation tag is
    applied with ``PIL.ImageOps.exif_transpose``. The mode is left as stored (RGBA, LA, P...).

    Args:
        source: the image's bytes, a file path, a ``{"bytes", "path"}`` dict (an undecoded
            ``datasets.Image`` value) or an already decoded ``PIL.Image.Image`` (returned as is:
            ``datasets`` has applied the orientation).

    Raises:
        Exception: whatever PIL raises for a file it cannot decode (``UnidentifiedImageError``,
            ``OSError`` for a truncated file, ``PIL.Image.DecompressionBombError``, ...).
    """
    from PIL import Image, ImageOps

    if isinstance(source, Image.Image):
        return source
    if isinstance(source, dict):
        source = source["bytes"] if source.get("bytes") is not None else source.get("path")
    if isinstance(source, bytes | bytearray):
        source = io.BytesIO(source)
    elif source is None:
        raise ValueError("the image is missing (no bytes and no path)")
    elif isinstance(source, os.PathLike):
        source = os.fspath(source)
    image = Image.open(source)
    image.load()
    if image.getexif().get(Image.ExifTags.Base.Orientation) is not None:
        image = ImageOps.exif_transpose(image)
    return image


def to_rgb(image):
    """RGB with any transparency composited on white, as transformers' ``convert_to_rgb`` does."""
    from PIL import Image

    if image.mode == "RGB":
        return image
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return image.convert("RGB")


def decode_image(source: Any):
    """The RGB ``PIL.Image.Image`` a CLIP processor sees for ``source`` after ``datasets`` decoded it.

    Args:
        source: see `open_image`.

    Raises:
        Exception: see `open_image` (`image_problem` turns it into a message).
    """
    return to_rgb(open_image(source))


def image_problem(source: Any) -> str | None:
    """Why ``source`` cannot be used as an image, or ``None`` when it decodes.

    The one image check of every command (build, validate, training, evaluation): a full decode
    with `decode_image`, so a truncated file or a decompression bomb is a bad image everywhere.
    """
    return decode_or_problem(source)[1]


def decode_or_problem(source: Any) -> tuple[Any, str | None]:
    """``(decode_image(source), None)``, or ``(None, why)`` when it does not decode (`image_problem`'s message)."""
    try:
        return decode_image(source), None
    except Exception as error:  # PIL raises many unrelated types for bad files; each is a finding
        return None, f"does not decode ({type(error).__name__}: {error})"


def decode_verdict(image: Any) -> tuple[Any, str | None]:
    """``(decode_image(image), None)``, or ``(None, why)``: ``"is missing"`` for ``None`` or a
    ``{"bytes", "path"}`` dict with neither, else `image_problem`'s message."""
    from PIL import Image

    if not isinstance(image, Image.Image) and (image is None or not (image.get("bytes") or image.get("path"))):
        return None, "is missing"
    return decode_or_problem(image)
