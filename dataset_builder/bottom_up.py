"""Stage 3 (optional): concepts bottom-up from an image-text corpus (WIT-style).

The vision model reads each row's image with its page title, page description and caption; it
keeps only rows that clearly show a cultural concept and assigns country, category (remapped to
the eight, unmapped ones to Symbol), context and visual features. A concept outside
``selection.countries``, ``selection.regions`` or ``selection.categories`` is rejected as
``not-selected``. Concept ids start with the row (``row<index>-...``) so a resumed run knows
which rows are done.
"""

from __future__ import annotations

from dataclasses import replace

from .config import SelectionConfig
from .curated import concept_key, few_shot_examples
from .pipeline import StageContext, StageResult, process
from .records import CATEGORIES, Concept, read_records
from .run_folder import item_seed
from .structured import Invalid, Query, ask
from .taxonomy import country
from .validators import concept_json, validate_concept

# Categories models often answer with (singular: see `map_category`), mapped to the paper's eight.
CATEGORY_ALIASES = {
    "food": "Cuisine",
    "dish": "Cuisine",
    "drink": "Cuisine",
    "beverage": "Cuisine",
    "clothes": "Clothing",
    "garment": "Clothing",
    "costume": "Clothing",
    "fashion": "Clothing",
    "music": "Art",
    "musical instrument": "Art",
    "craft": "Art",
    "building": "Architecture",
    "monument": "Architecture",
    "holiday": "Festival",
    "celebration": "Festival",
    "ritual": "Festival",
    "animal": "Animals & Plants",
    "plant": "Animals & Plants",
    "tool": "Daily Life",
    "household": "Daily Life",
}
_CATEGORY_NAMES = {c.casefold(): c for c in CATEGORIES} | CATEGORY_ALIASES


def map_category(name) -> str:
    """One of the eight categories for a model's answer; an answer that maps to none is Symbol.

    The answer is casefolded with " and " read as " & ", then looked up as is and without one
    trailing "s", among the categories and `CATEGORY_ALIASES`: "Festivals" is Festival, "Animals and
    Plants" is Animals & Plants.
    """
    text = " ".join(str(name).casefold().split()).replace(" and ", " & ")
    for form in (text, text.removesuffix("s")):
        if form in _CATEGORY_NAMES:
            return _CATEGORY_NAMES[form]
    return "Symbol"


def row_id(index: int) -> str:
    return f"row{index}"


def validate_item(data, index: int, known: set[str], selection: SelectionConfig) -> list[Concept]:
    if not isinstance(data, dict) or not isinstance(data.get("cultural"), bool):
        raise Invalid("wrong-shape", 'expected {"cultural": true|false, ...}')
    if not data["cultural"]:
        raise Invalid("not-cultural", "the model found no cultural concept", final=True)
    try:
        place = country(data.get("country"))
    except ValueError:
        raise Invalid("bad-country", f"country {data.get('country')!r} is not an ISO 3166-1 alpha-2 code") from None
    code, category = place.code, map_category(data.get("category", ""))
    outside = selection.excluded(code, place.region, category)
    if outside is not None:  # selected as the top-down taxonomy and the curated list are
        raise Invalid("not-selected", outside, final=True)
    concept = validate_concept(data, code, category, "bottom-up")
    if concept_key(concept) in known:
        raise Invalid(
            "duplicate-concept", f"{concept.concept!r} ({code}, {category}) is already in the run", final=True
        )
    known.add(concept_key(concept))
    return [replace(concept, concept_id=f"{row_id(index)}-{concept.concept_id}")]


def load_rows(config):
    """The corpus rows (``datasets``), checked for the configured columns."""
    from datasets import load_dataset

    b = config.bottom_up
    rows = load_dataset(b.dataset, split=b.split)
    columns = (b.title_column, b.description_column, b.caption_column, b.image_column)
    missing = [c for c in columns if c not in rows.column_names]
    if missing:
        raise ValueError(
            f"bottom_up.dataset {b.dataset} has no column(s) {missing} (it has {rows.column_names}); "
            "set bottom_up.*_column to its names."
        )
    limit = config.selection.limit
    return rows.select(range(min(limit, len(rows)))) if limit else rows


def run(ctx: StageContext) -> StageResult:
    from cultureclip.imaging import decode_image

    config, model, b = ctx.config, ctx.config.reader, ctx.config.bottom_up
    rows = load_rows(config)
    existing = read_records(ctx.run_dir, Concept)
    known = {concept_key(c) for c in existing}
    examples = "\n".join(
        concept_json(t.pos, cultural=True, country=t.pos.country, category=t.category)
        for t in few_shot_examples(ctx.curated, None, 2)
    )

    def query(index: int) -> Query:
        row = rows[index]
        image = row[b.image_column]
        image = decode_image(image)
        prompt = ctx.render(
            "bottom_up",
            title=row[b.title_column] or "",
            description=row[b.description_column] or "",
            caption=row[b.caption_column] or "",
            categories=", ".join(CATEGORIES),
            examples=examples,
        )
        content = [{"type": "image", "image": image}, {"type": "text", "text": prompt}]
        seed = item_seed(config.seed, "bottom-up", index)
        return Query(
            row_id(index),
            [{"role": "user", "content": content}],
            seed,
            lambda data: validate_item(data, index, known, config.selection),
        )

    def handle(batch: list[int]):
        return ask(ctx.backend(model), [query(i) for i in batch], model.max_attempts)

    done = {c.concept_id.split("-", 1)[0] for c in existing if c.source == "bottom-up"}
    return process(ctx, "concepts", list(range(len(rows))), row_id, handle, model.round_size, done)
