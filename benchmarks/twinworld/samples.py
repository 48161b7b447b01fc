"""Seeded streams of TwinWorld images: each image is a pure function of (seed, stream, index)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .render import Difficulty, RenderParams, render, sample_params
from .world import COLOURS, PATTERNS, Concept, concepts, seed_for


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
        mark = (concept or self.concept).culture.mark
        return render(self.concept.kind.name, mark, self.colour, self.pattern, self.params, difficulty)


def draw_sample(seed: int, stream: str, index: int, difficulty: Difficulty, concept: Concept | None = None) -> Sample:
    """The ``index``-th sample of ``stream``; a random concept unless one is given."""
    rng = random.Random(seed_for(seed, stream, index))
    chosen = rng.choice(concepts())
    return Sample(
        concept=concept or chosen,
        colour=rng.choice(list(COLOURS)),
        pattern=rng.choice(PATTERNS),
        template=rng.randrange(1000),
        params=sample_params(rng, difficulty),
    )
