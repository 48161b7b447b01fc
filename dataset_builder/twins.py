"""Stage 4: one twin per concept: visually similar, culturally distinct, same category.

A twin is rejected (after the model's retries) when it is the concept itself, comes from the same
country, or is a concept the run already has. Twins proposed here are `Concept` records with
source ``twin``; the stage's inputs are the ``top-down`` and ``bottom-up`` concepts.
"""

from __future__ import annotations

from .curated import concept_key, few_shot_examples, twin_id
from .pipeline import StageContext, StageResult
from .records import Concept, Twin, read_records
from .run_folder import item_seed
from .structured import Invalid, Query, ask
from .validators import concept_json, validate_concept


def validate_twin(data, concept: Concept, used: set[str], written: frozenset[str] = frozenset()) -> list:
    """The twin's `Concept` and the `Twin` record, or `Invalid` with the rejection reason.

    ``used`` holds the `concept_key` of every concept the run already has (updated here), so a twin
    matches a bottom-up concept whatever its row; ``written`` the twin concepts already on disk
    without their `Twin` (a run killed between the two writes), not written again.
    """
    from .taxonomy import country

    code = data.get("country") if isinstance(data, dict) else None
    try:
        code = country(code).code
    except ValueError:
        raise Invalid("bad-country", f"country {code!r} is not an ISO 3166-1 alpha-2 code") from None
    neg = validate_concept(data, code, concept.category, "twin")
    if neg.concept.casefold() == concept.concept.casefold():
        raise Invalid("twin-equals-concept", f"{neg.concept!r} is the concept itself")
    if code == concept.country:
        raise Invalid("same-country", f"{neg.concept!r} is from {code}, like {concept.concept!r}")
    if neg.concept_id in used:
        raise Invalid("twin-already-used", f"{neg.concept!r} ({code}) is already in the run")
    used.add(neg.concept_id)
    twin = Twin(twin_id(concept.concept_id, neg.concept_id), concept.concept_id, neg.concept_id, concept.category)
    return [twin] if neg.concept_id in written else [neg, twin]


def run(ctx: StageContext) -> StageResult:
    if ctx.config.source == "curated":
        return StageResult(0, note="the curated source provides the twins")
    from .pipeline import process
    from .taxonomy import country

    config, model = ctx.config, ctx.config.text_model
    concepts = read_records(ctx.run_dir, Concept)
    inputs = [c for c in concepts if c.source in ("top-down", "bottom-up")]
    twins = read_records(ctx.run_dir, Twin)
    paired = {t.neg_concept_id for t in twins}
    orphans = frozenset(c.concept_id for c in concepts if c.source == "twin" and c.concept_id not in paired)
    used = {concept_key(c) for c in concepts if c.concept_id not in orphans}

    def query(concept: Concept) -> Query:
        examples = few_shot_examples(ctx.curated, concept.category, 2, concept.country)
        prompt = ctx.render(
            "twins",
            concept=concept.concept,
            country=country(concept.country).name,
            country_code=concept.country,
            category=concept.category,
            context=concept.context,
            visual_features=concept.visual_features,
            examples="\n".join(
                f"{t.pos.concept} ({t.pos.country}) -> {concept_json(t.neg, country=t.neg.country)}" for t in examples
            ),
        )
        return Query(
            concept.concept_id,
            [{"role": "user", "content": prompt}],
            item_seed(config.seed, "twin", concept.concept_id),
            lambda data: validate_twin(data, concept, used, orphans),
        )

    def handle(batch):
        return ask(ctx.backend(model), [query(c) for c in batch], model.max_attempts)

    done = {t.pos_concept_id for t in twins}
    return process(ctx, "twins", inputs, lambda c: c.concept_id, handle, model.round_size, done)
