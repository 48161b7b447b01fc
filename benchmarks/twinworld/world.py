"""The TwinWorld: object kinds, invented cultures, their concepts and twins, and every text.

A concept is an object kind (one per CulTwin category) made by one invented culture. Each
culture marks what it makes with a small motif; cultures come in twin groups whose motifs have
the same shape and differ only in tone (a white vs a black triangle ...), so a concept and its
twin share category, silhouette and palette and differ only in that small detail, the way real
cultural twins do. Colour and pattern are free per image: they are the general (culture-free)
attributes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str
    category: str
    """The CulTwin category (`cultureclip.dataset_builder.records.CATEGORIES`) the kind stands for."""
    silhouette: str
    use: str
    mark_place: str


@dataclass(frozen=True)
class Culture:
    name: str
    country: str
    """An ISO 3166-1 code standing for the invented culture (see `CULTURES`)."""
    mark: str
    """A motif shape known to `render.MARK_SHAPES`."""
    mark_tone: str
    """A key of `render.MARK_TONES`."""
    mark_words: str
    occasion: str
    group: int
    """Cultures of one group have near-identical marks: they are each other's twins."""


@dataclass(frozen=True)
class Concept:
    concept_id: str
    name: str
    kind: Kind
    culture: Culture

    @property
    def context(self) -> str:
        return (
            f"A {self.kind.name} the {self.culture.name} people {self.kind.use}, above all at {self.culture.occasion}."
        )

    @property
    def visual_features(self) -> str:
        return f"{self.kind.silhouette}; a small {self.culture.mark_words} on its {self.kind.mark_place}"


@dataclass(frozen=True)
class TwinPair:
    twin_id: str
    pos: Concept
    neg: Concept


KINDS = (
    Kind("bowl", "Cuisine", "a round bowl with a flat rim and a short foot", "serve stew in", "side"),
    Kind("hat", "Clothing", "a tall hat with a wide oval brim", "wear", "crown"),
    Kind("vase", "Art", "a round-bellied vase with a narrow neck", "paint and display", "belly"),
    Kind("tower", "Architecture", "a square tower under a pointed roof", "build", "wall"),
    Kind("banner", "Symbol", "a swallow-tailed banner on a pole", "raise as an emblem", "cloth"),
    Kind("lantern", "Festival", "a round lantern with a cap at each end", "light", "shade"),
    Kind("fish", "Animals & Plants", "an oval fish with a forked tail", "keep in ponds", "flank"),
    Kind("mug", "Daily Life", "a straight mug with a round handle", "drink from", "front"),
)
"""One kind per CulTwin category, so the dataset's ``category`` ClassLabel is the kind."""

# Records need an ISO 3166-1 country code: each invented culture borrows the code of a small
# remote territory, as a label only (no real culture is meant).
CULTURES = (
    Culture("Varrish", "BV", "triangle", "white", "white triangle", "the thaw feast", 0),
    Culture("Tolmic", "HM", "triangle", "black", "black triangle", "the salt fair", 0),
    Culture("Essani", "TF", "disc", "white", "white dot", "the long night", 1),
    Culture("Brakkan", "GS", "disc", "black", "black dot", "the river games", 1),
    Culture("Quenari", "PN", "square", "white", "white square", "the wedding week", 2),
    Culture("Dovvic", "TK", "square", "black", "black square", "the harvest moon", 2),
    Culture("Ilthan", "NF", "plus", "white", "white cross", "the first snow", 3),
    Culture("Moraki", "CX", "plus", "black", "black cross", "the kite days", 3),
)

COLOURS = {
    "red": (196, 40, 44),
    "blue": (40, 72, 196),
    "green": (36, 150, 64),
    "yellow": (222, 190, 36),
    "purple": (128, 52, 168),
    "orange": (232, 120, 28),
}
PATTERNS = ("plain", "striped", "dotted")
PATTERN_WITH = {"plain": "no pattern", "striped": "stripes", "dotted": "dots"}


def concepts() -> list[Concept]:
    """All concepts: every kind made by every culture, e.g. ``"Varrish bowl"``."""
    return [
        Concept(f"{culture.name.lower()}-{kind.name}", f"{culture.name} {kind.name}", kind, culture)
        for kind in KINDS
        for culture in CULTURES
    ]


def twin_pairs() -> list[TwinPair]:
    """One pair per kind and culture group: the first culture of the group is the positive."""
    by_id = {c.concept_id: c for c in concepts()}
    pairs = []
    for kind in KINDS:
        for group in sorted({c.group for c in CULTURES}):
            first, second = (c for c in CULTURES if c.group == group)
            pos = by_id[f"{first.name.lower()}-{kind.name}"]
            neg = by_id[f"{second.name.lower()}-{kind.name}"]
            pairs.append(TwinPair(f"{pos.concept_id}--{neg.concept_id}", pos, neg))
    return pairs


def seed_for(*parts: object) -> int:
    """A stable 32-bit seed for a named stream (``hash()`` changes from process to process)."""
    return zlib.crc32("/".join(map(str, parts)).encode())


# Captions of the cultural dataset. Each names the concept and its mark (the key visual
# feature), the colour and pattern of its image, and sometimes the context; under 15 words.
CULTURAL_TEMPLATES = (
    "a {colour} {pattern_adj} {concept} with a small {mark} on its {place}.",
    "a {concept} in {colour} with {pattern_with}, marked by a {mark}.",
    "at {occasion} the {culture} use this {colour} {kind} bearing a {mark}.",
    "{colour} {concept}: {pattern_with}, and a little {mark} on the {place}.",
    "a {pattern_adj} {colour} {kind} of the {culture} people, a {mark} on it.",
)

# Generic captions for pretraining the base model: category, colour and pattern, never the
# culture or its mark.
GENERIC_TEMPLATES = (
    "a photo of a {colour} {kind}.",
    "a {colour} {pattern_adj} {kind}.",
    "a {kind} in {colour} with {pattern_with}.",
    "a photo of a {kind}.",
    "a {pattern_adj} {kind}.",
    "a {kind} in {colour}.",
)


# Captions of culture-free shape tiles, also in the pretraining corpus: like a web-trained CLIP,
# the base model knows what a small triangle or ring looks like, but not which culture marks its
# objects with it.
TILE_TEMPLATES = (
    "a {colour} tile with a {mark}.",
    "a {mark} on a {pattern_adj} {colour} tile.",
    "a photo of a {mark} on a tile.",
)


def tile_caption(mark_words: str, colour: str, pattern: str, template: int) -> str:
    """The ``template``-th caption of a tile of ``colour`` bearing a mark."""
    return TILE_TEMPLATES[template % len(TILE_TEMPLATES)].format(mark=mark_words, colour=colour, pattern_adj=pattern)


def _fields(kind: Kind, colour: str, pattern: str) -> dict[str, str]:
    return {
        "kind": kind.name,
        "colour": colour,
        "pattern_adj": pattern,
        "pattern_with": PATTERN_WITH[pattern],
    }


def cultural_caption(concept: Concept, colour: str, pattern: str, template: int) -> str:
    """The ``template``-th cultural caption of an image of ``concept``."""
    culture = concept.culture
    return CULTURAL_TEMPLATES[template % len(CULTURAL_TEMPLATES)].format(
        concept=concept.name,
        culture=culture.name,
        mark=culture.mark_words,
        occasion=culture.occasion,
        place=concept.kind.mark_place,
        **_fields(concept.kind, colour, pattern),
    )


def generic_caption(kind: Kind, colour: str, pattern: str, template: int) -> str:
    """The ``template``-th generic caption of an image of a ``kind`` object."""
    return GENERIC_TEMPLATES[template % len(GENERIC_TEMPLATES)].format(**_fields(kind, colour, pattern))


def corpus() -> list[str]:
    """Every word the world can say, for the tokenizer: all captions, concept names and contexts."""
    lines = []
    for concept in concepts():
        lines += [concept.name, concept.context, concept.visual_features]
        for colour in COLOURS:
            for pattern in PATTERNS:
                lines += [cultural_caption(concept, colour, pattern, t) for t in range(len(CULTURAL_TEMPLATES))]
                lines += [generic_caption(concept.kind, colour, pattern, t) for t in range(len(GENERIC_TEMPLATES))]
                lines += [
                    tile_caption(concept.culture.mark_words, colour, pattern, t) for t in range(len(TILE_TEMPLATES))
                ]
    return sorted(set(lines))
