"""Validators of model answers shared by the concept stages (top-down, bottom-up) and the twin stage."""

from __future__ import annotations

import json

from .curated import concept_id
from .records import Concept
from .structured import require_text

CONTEXT_WORDS = 45
NAME_WORDS = 8


def concept_json(concept: Concept, **extra) -> str:
    """A concept as the JSON object the prompts ask for (a few-shot example), plus ``extra`` fields."""
    fields = {"concept": concept.concept, "context": concept.context, "visual_features": concept.visual_features}
    return json.dumps(fields | extra, ensure_ascii=False)


def validate_concept(data, country: str, category: str, source: str) -> Concept:
    """One ``{"concept", "context", "visual_features"}`` object as a `Concept` (or `Invalid`)."""
    name = require_text(data, "concept", NAME_WORDS)
    return Concept(
        concept_id(country, category, name),
        name,
        country,
        category,
        require_text(data, "context", CONTEXT_WORDS),
        require_text(data, "visual_features", CONTEXT_WORDS),
        source,
    )
