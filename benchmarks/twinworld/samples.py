"""Seeded streams of TwinWorld images: each image is a pure function of (seed, stream, index)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .render import TILE, Difficulty, RenderParams, render, sample_params
from .world import COLOURS, CULTURES, PATTERNS, Concept, concepts, seed_for


@dataclass(frozen=True)
class Sample:
    """One drawn image: what it shows and how it is rendered."""

    concept: Concept
    colour: str
    pattern: str
    template: int
    params: RenderParams

    def image(self, difficulty: Difficulty, concept: Concept | None = None):
        """The image; pass ``concept`` to draw its mark instead (the twin of the same render)."""
        culture = (concept or self.concept).culture
        return render(
            self.concept.kind.name, culture.mark, culture.mark_tone, self.colour, self.pattern, self.params, difficulty
        )


@dataclass(frozen=True)
class TileSample:
    """A culture-free shape tile: a coloured square with a mark."""

    mark: str
    mark_tone: str
    mark_words: str
    colour: str
    pattern: str
    template: int
    params: RenderParams

    def image(self, difficulty: Difficulty):
        return render(TILE, self.mark, self.mark_tone, self.colour, self.pattern, self.params, difficulty)


def draw_tile(seed: int, stream: str, index: int, difficulty: Difficulty) -> TileSample:
    """The ``index``-th tile of ``stream``, bearing the mark of a random culture."""
    rng = random.Random(seed_for(seed, stream, "tile", index))
    culture = rng.choice(CULTURES)
    return TileSample(
        mark=culture.mark,
        mark_tone=culture.mark_tone,
        mark_words=culture.mark_words,
        colour=rng.choice(list(COLOURS)),
        pattern=rng.choice(PATTERNS),
        template=rng.randrange(1000),
        params=sample_params(rng, difficulty),
    )


def draw_sample(seed: int, stream: str, index: int, difficulty: Difficulty, concept: Concept | None = None) -> Sample:
    """The ``index``-th sample of ``stream``; a random concept unless one is given."""
    rng = random.Random(seed_for(seed, stream, index))
    # Drawn even when ``concept`` is given, so the rest of the render does not depend on it.
    chosen = rng.choice(concepts())
    return Sample(
        concept=concept or chosen,
        colour=rng.choice(list(COLOURS)),
        pattern=rng.choice(PATTERNS),
        template=rng.randrange(1000),
        params=sample_params(rng, difficulty),
    )
