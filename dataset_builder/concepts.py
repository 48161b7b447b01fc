"""Stage 2: concepts, from the curated twin list or top-down from the text model per taxonomy cell.

The curated source writes each pair's two concepts and its twin at once (stage 4 then has nothing
to do); the top-down source asks for ``concepts_per_cell`` concepts per (country, category).
"""

from __future__ import annotations

from collections import Counter

from .bottom_up import run as run_bottom_up
from .curated import CuratedTwin, few_shot_examples, select, slug
from .pipeline import StageContext, StageResult, process
from .records import Concept, Twin, read_records
from .run_folder import item_seed
from .structured import Invalid, Outcome, Query, ask
from .taxonomy import TaxonomyCell, taxonomy
from .validators import concept_json, validate_concept


def run(ctx: StageContext) -> StageResult:
    if ctx.config.source == "curated":
        return run_curated(ctx)
    if ctx.config.source == "top-down":
        return run_top_down(ctx)
    return run_bottom_up(ctx)


def run_curated(ctx: StageContext) -> StageResult:
    s = ctx.config.selection
    pairs = select(ctx.curated, s.countries, s.regions, s.categories, s.limit)
    written = {c.concept_id for c in read_records(ctx.run_dir, Concept)}

    def handle(batch: list[CuratedTwin]) -> list[Outcome]:
        outcomes = []
        for pair in batch:
            records = [c for c in (pair.pos, pair.neg) if c.concept_id not in written]
            written.update(c.concept_id for c in records)
            outcomes.append(Outcome(pair.twin().twin_id, records=[*records, pair.twin()]))
        return outcomes

    done = {t.twin_id for t in read_records(ctx.run_dir, Twin)}
    return process(ctx, "concepts", pairs, lambda p: p.twin().twin_id, handle, 64, done)


def cell_id(cell: TaxonomyCell) -> str:
    return f"{cell.country.code.lower()}-{slug(cell.category)}"


def run_top_down(ctx: StageContext) -> StageResult:
    config, s = ctx.config, ctx.config.selection
    cells = taxonomy(s.countries, s.regions, s.categories)[: s.limit]
    model = config.text_model
    existing = read_records(ctx.run_dir, Concept)
    ids = {c.concept_id for c in existing}
    have = Counter(f"{c.country.lower()}-{slug(c.category)}" for c in existing if c.source == "top-down")
    wanted = config.concepts_per_cell

    def query(cell: TaxonomyCell) -> Query:
        missing = wanted - have[cell_id(cell)]
        examples = [t.pos for t in few_shot_examples(ctx.curated, cell.category, 3, cell.country.code)]
        prompt = ctx.render(
            "concepts",
            category=cell.category,
            description=cell.description,
            country=cell.country.name,
            country_code=cell.country.code,
            count=wanted,
            examples="\n".join(f"{c.country} {c.category}: {concept_json(c)}" for c in examples),
        )

        def validate(data) -> list[Concept]:
            items = data.get("concepts") if isinstance(data, dict) else data
            if not isinstance(items, list):
                raise Invalid("wrong-shape", 'expected {"concepts": [...]}')
            found, errors = [], []
            for item in items:
                try:
                    concept = validate_concept(item, cell.country.code, cell.category, "top-down")
                except Invalid as error:
                    errors.append(error.reason)
                    continue
                if concept.concept_id not in ids and concept.concept_id not in {c.concept_id for c in found}:
                    found.append(concept)
            if len(found) < missing:
                raise Invalid("too-few-concepts", f"{len(found)} new valid of {missing} needed; errors {errors}")
            ids.update(c.concept_id for c in found[:missing])
            return found[:missing]

        return Query(
            cell_id(cell), [{"role": "user", "content": prompt}], item_seed(config.seed, cell_id(cell)), validate
        )

    def handle(batch):
        return ask(ctx.backend(model), [query(cell) for cell in batch], model.max_attempts)

    done = {key for key, count in have.items() if count >= wanted}
    return process(ctx, "concepts", cells, cell_id, handle, model.round_size, done)
