"""Procedural rendering of TwinWorld objects: silhouette, colour, pattern and a culture's mark.

Objects are drawn on a 64-unit grid (supersampled), then rotated, scaled and placed on a noisy
gradient background. All randomness comes from `RenderParams`, so the same parameters with a
different mark give an image that differs only around the mark: a controlled twin.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .world import COLOURS, PATTERNS

GRID = 64
"""Silhouettes are drawn on this grid, with `_PAD` units of margin for rotation."""
_PAD = 16
_SUPERSAMPLE = 2
MARK_TONES = {"white": (248, 246, 238), "black": (24, 24, 28)}
TILE = "tile"
"""A culture-free square that carries a mark, for the shape tiles of the pretraining corpus."""


@dataclass(frozen=True)
class RenderParams:
    """Everything random about one image, drawn by `sample_params`."""

    center_x: float
    center_y: float
    scale: float
    """Image pixels per grid unit."""
    angle: float
    """Degrees, counter-clockwise."""
    background_top: tuple[int, int, int]
    background_bottom: tuple[int, int, int]
    noise_sigma: float
    noise_seed: int


@dataclass(frozen=True)
class Difficulty:
    """How hard the world is: the mark's radius (grid units), pixel noise, position jitter, image size."""

    mark_radius: float = 7.0
    noise_sigma: tuple[float, float] = (3.0, 10.0)
    position_jitter: float = 0.1
    """Largest shift of the object's centre from the image centre, as a fraction of the image."""
    image_size: int = 48

    def __post_init__(self):
        if not 1.0 <= self.mark_radius <= 12.0:
            raise ValueError(f"mark_radius={self.mark_radius} is outside [1, 12] grid units; pick a value inside.")
        low, high = self.noise_sigma
        if not 0 <= low <= high:
            raise ValueError(f"noise_sigma={self.noise_sigma} must be (low, high) with 0 <= low <= high.")
        if not 0 <= self.position_jitter <= 0.25:
            raise ValueError(
                f"position_jitter={self.position_jitter} is outside [0, 0.25]; the object would leave the image."
            )
        if self.image_size < 32:
            raise ValueError(f"image_size={self.image_size} is too small to show a mark; use 32 or more.")


def sample_params(rng: random.Random, difficulty: Difficulty) -> RenderParams:
    """Random position, scale, rotation, background and noise for one image."""
    size = difficulty.image_size
    scale = rng.uniform(0.46, 0.60) * size / 48
    jitter = difficulty.position_jitter * size
    return RenderParams(
        center_x=size / 2 + rng.uniform(-jitter, jitter),
        center_y=size / 2 + rng.uniform(-jitter, jitter),
        scale=scale,
        angle=rng.uniform(-15, 15),
        background_top=_pale(rng),
        background_bottom=_pale(rng),
        noise_sigma=rng.uniform(*difficulty.noise_sigma),
        noise_seed=rng.getrandbits(32),
    )


def _pale(rng: random.Random) -> tuple[int, int, int]:
    """A light, low-saturation background tone, so the object stands out as a figure."""
    grey = rng.randint(165, 235)
    return tuple(min(255, max(0, grey + rng.randint(-18, 18))) for _ in range(3))


def _body(kind: str):
    """``(shapes, mark_anchor)``: filled shapes ``(type, box_or_points[, width])`` on the grid."""
    shapes = {
        "bowl": ([("chord", (6, 10, 58, 50)), ("rect", (6, 27, 58, 31)), ("rect", (24, 46, 40, 52))], (32, 38)),
        "hat": ([("ellipse", (4, 38, 60, 50)), ("rect", (18, 12, 46, 43))], (32, 27)),
        "vase": ([("ellipse", (13, 22, 51, 58)), ("rect", (26, 8, 38, 26)), ("rect", (22, 5, 42, 10))], (32, 40)),
        "tower": ([("rect", (18, 24, 46, 60)), ("poly", [(12, 25), (32, 4), (52, 25)])], (32, 42)),
        "banner": ([("rect", (8, 4, 12, 60)), ("poly", [(12, 8), (56, 8), (46, 24), (56, 40), (12, 40)])], (30, 24)),
        "lantern": ([("ellipse", (13, 14, 51, 52)), ("rect", (22, 8, 42, 15)), ("rect", (22, 51, 42, 58))], (32, 33)),
        "fish": ([("ellipse", (4, 19, 46, 45)), ("poly", [(42, 32), (60, 16), (60, 48)])], (24, 32)),
        "mug": ([("rect", (10, 14, 42, 56)), ("ring", (34, 22, 58, 46), 5)], (26, 35)),
        TILE: ([("rect", (14, 14, 50, 50))], (32, 32)),
    }
    if kind not in shapes:
        raise ValueError(f"Unknown kind {kind!r}; choose from {sorted(shapes)}.")
    return shapes[kind]


def _mark_polygons(mark: str, cx: float, cy: float, r: float):
    """The mark as ``(type, geometry)`` shapes centred on ``(cx, cy)`` with radius ``r``."""

    def poly(points):
        return ("poly", [(cx + x * r, cy + y * r) for x, y in points])

    def bar(angle):
        c, s = math.cos(angle), math.sin(angle)
        w = 0.3
        return poly([(c * u - s * v, s * u + c * v) for u, v in ((-1, -w), (1, -w), (1, w), (-1, w))])

    box = (cx - r, cy - r, cx + r, cy + r)
    marks = {
        "triangle": [poly([(0, -1), (0.95, 0.75), (-0.95, 0.75)])],
        "disc": [("ellipse", box)],
        "square": [poly([(-0.75, -0.75), (0.75, -0.75), (0.75, 0.75), (-0.75, 0.75)])],
        "plus": [bar(0), bar(math.pi / 2)],
    }
    if mark not in marks:
        raise ValueError(f"Unknown mark {mark!r}; choose from {sorted(marks)}.")
    return marks[mark]


MARK_SHAPES = ("triangle", "disc", "square", "plus")


def _draw(draw, shapes, fill, offset: float, factor: int):
    def at(v):
        return (v + offset) * factor

    for shape in shapes:
        kind, geometry = shape[0], shape[1]
        if kind == "poly":
            draw.polygon([(at(x), at(y)) for x, y in geometry], fill=fill)
            continue
        box = [at(v) for v in geometry]
        if kind == "rect":
            draw.rectangle(box, fill=fill)
        elif kind == "ellipse":
            draw.ellipse(box, fill=fill)
        elif kind == "chord":
            draw.chord(box, 0, 180, fill=fill)
        else:  # ring
            draw.ellipse(box, outline=fill, width=round(shape[2] * factor))


def _pattern_layer(pattern: str, colour, size: int, factor: int):
    from PIL import Image, ImageDraw

    layer = Image.new("RGB", (size, size), colour)
    draw = ImageDraw.Draw(layer)
    dark = tuple(int(v * 0.55) for v in colour)
    if pattern == "striped":
        for y in range(0, size, 6 * factor):
            draw.rectangle([0, y, size, y + 2 * factor], fill=dark)
    elif pattern == "dotted":
        for y in range(2 * factor, size, 8 * factor):
            for x in range(2 * factor, size, 8 * factor):
                draw.ellipse([x, y, x + 3 * factor, y + 3 * factor], fill=dark)
    return layer


def render(
    kind: str, mark: str, mark_tone: str, colour: str, pattern: str, params: RenderParams, difficulty: Difficulty
):
    """One RGB ``PIL.Image`` of a ``colour`` ``pattern`` ``kind`` bearing ``mark`` in ``mark_tone``."""
    import numpy as np
    from PIL import Image, ImageDraw

    if colour not in COLOURS:
        raise ValueError(f"Unknown colour {colour!r}; choose from {sorted(COLOURS)}.")
    if mark_tone not in MARK_TONES:
        raise ValueError(f"Unknown mark tone {mark_tone!r}; choose from {sorted(MARK_TONES)}.")
    if pattern not in PATTERNS:
        raise ValueError(f"Unknown pattern {pattern!r}; choose from {list(PATTERNS)}.")
    factor = _SUPERSAMPLE
    layer_size = (GRID + 2 * _PAD) * factor
    shapes, (ax, ay) = _body(kind)
    mask = Image.new("L", (layer_size, layer_size), 0)
    _draw(ImageDraw.Draw(mask), shapes, 255, _PAD, factor)
    rgb = _pattern_layer(pattern, COLOURS[colour], layer_size, factor)
    _draw(
        ImageDraw.Draw(rgb), _mark_polygons(mark, ax, ay, difficulty.mark_radius), MARK_TONES[mark_tone], _PAD, factor
    )
    layer = rgb.convert("RGBA")
    layer.putalpha(mask)

    size = difficulty.image_size
    out_size = max(2, round((GRID + 2 * _PAD) * params.scale))
    layer = layer.rotate(params.angle, resample=Image.BICUBIC).resize((out_size, out_size), Image.LANCZOS)
    top, bottom = np.array(params.background_top, float), np.array(params.background_bottom, float)
    t = np.linspace(0, 1, size)[:, None, None]
    background = np.broadcast_to(top * (1 - t) + bottom * t, (size, size, 3))
    image = Image.fromarray(background.astype(np.uint8))
    corner = (round(params.center_x - out_size / 2), round(params.center_y - out_size / 2))
    image.alpha_composite(layer, corner) if image.mode == "RGBA" else image.paste(layer, corner, layer)
    noise = np.random.default_rng(params.noise_seed).normal(0, params.noise_sigma, (size, size, 3))
    return Image.fromarray(np.clip(np.asarray(image, float) + noise, 0, 255).astype(np.uint8))


def mark_center(kind: str, params: RenderParams) -> tuple[float, float]:
    """Where the mark's centre lands in the image (for checks of the twin property)."""
    _, (ax, ay) = _body(kind)
    dx, dy = ax - GRID / 2, ay - GRID / 2
    angle = math.radians(params.angle)
    # PIL rotates counter-clockwise on screen, where y points down.
    rx = dx * math.cos(angle) + dy * math.sin(angle)
    ry = -dx * math.sin(angle) + dy * math.cos(angle)
    return params.center_x + rx * params.scale, params.center_y + ry * params.scale
