"""Stage 5: ``captions.per_concept`` captions for every concept that has a twin.

Captions name the concept and its key visual features and keep its context; each is at most
``captions.max_words`` words (CLIP reads 77 tokens; the paper: under 15 words, so 14). They come
from the text model (``mode: llm``) or are composed from the concept's own fields with the
templates in ``prompts/caption_compose.txt`` (``mode: compose``, no model).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable

from .pipeline import StageContext, StageResult, process
from .records import Caption, Concept, Twin, read_records
from .run_folder import item_seed
from .structured import Invalid, Outcome, Query, ask

MIN_WORDS = 3


def caption_id(concept_id: str, index: int) -> str:
    return f"{concept_id}-c{index:02d}"


def clean_caption(text, max_words: int, count_tokens: Callable[[str], int] | None = None, max_tokens: int = 77) -> str:
    """A caption as one line of normalised whitespace, or `Invalid` if it is not one.

    ``count_tokens`` (CLIP's tokenizer, start and end tokens included) rejects captions longer than
    the ``max_tokens`` CLIP's text tower reads.
    """
    if not isinstance(text, str) or not text.strip():
        raise Invalid("missing-field", f"caption {text!r} is not a non-empty string")
    text = " ".join(text.split())
    words = len(text.split())
    if words < MIN_WORDS:
        raise Invalid("too-short", f"caption {text!r} has {words} words, at least {MIN_WORDS} needed")
    if words > max_words:
        raise Invalid("too-long", f"caption has {words} words, limit {max_words}")
    if count_tokens is not None and (tokens := count_tokens(text)) > max_tokens:
        raise Invalid("too-many-tokens", f"caption has {tokens} CLIP tokens, limit {max_tokens}")
    return text


def token_counter(tokenizer: str | None) -> Callable[[str], int] | None:
    """``len(input_ids)`` of a text with this tokenizer (a Hub id or a local CLIP folder), or ``None``."""
    if tokenizer is None:
        return None
    from transformers import AutoTokenizer

    loaded = AutoTokenizer.from_pretrained(tokenizer)
    return lambda text: len(loaded(text).input_ids)


def _clauses(text: str) -> list[str]:
    return [c.strip() for c in re.split(r"[,;]|\band\b", text) if c.strip()]


def compose(
    concept: Concept,
    templates: list[str],
    count: int,
    max_words: int,
    count_tokens: Callable[[str], int] | None = None,
    max_tokens: int = 77,
) -> list[str]:
    """``count`` distinct captions from the concept's fields, or `Invalid` if they do not fit."""
    from string import Template

    from .taxonomy import country

    features = _clauses(concept.visual_features)
    setting = " ".join(_clauses(concept.context)[0].split()[:8]).rstrip(".")
    values = {
        "concept": concept.concept,
        "setting": setting[:1].lower() + setting[1:],
        "country": country(concept.country).name,
    }
    found: list[str] = []
    for round_ in range(len(features)):
        for i, template in enumerate(templates):
            feature = features[(i + round_) % len(features)]
            text = Template(template).substitute(values, feature=feature)
            try:
                text = clean_caption(text[:1].upper() + text[1:], max_words, count_tokens, max_tokens)
            except Invalid:
                continue
            if text not in found:
                found.append(text)
            if len(found) == count:
                return found
    raise Invalid("too-few-captions", f"only {len(found)} distinct captions of at most {max_words} words fit")


def run(ctx: StageContext) -> StageResult:
    config = ctx.config
    per, max_words, max_tokens = config.captions.per_concept, config.captions.max_words, config.captions.max_tokens
    count_tokens = token_counter(config.captions.tokenizer)
    twins = read_records(ctx.run_dir, Twin)
    wanted = {i for t in twins for i in (t.pos_concept_id, t.neg_concept_id)}
    concepts = [c for c in read_records(ctx.run_dir, Concept) if c.concept_id in wanted]
    have = defaultdict(set)
    for caption in read_records(ctx.run_dir, Caption):
        have[caption.concept_id].add(caption.index)

    def records(concept: Concept, texts: list[str]) -> list[Caption]:
        missing = [i for i in range(per) if i not in have[concept.concept_id]]
        return [Caption(caption_id(concept.concept_id, i), concept.concept_id, i, texts[i]) for i in missing]

    if config.captions.mode == "compose":
        templates = compose_templates(ctx.prompt("caption_compose"))

        def handle(batch: list[Concept]) -> list[Outcome]:
            outcomes = []
            for concept in batch:
                try:
                    outcomes.append(
                        Outcome(
                            concept.concept_id,
                            records(concept, compose(concept, templates, per, max_words, count_tokens, max_tokens)),
                        )
                    )
                except Invalid as error:
                    outcomes.append(Outcome(concept.concept_id, rejected=error.reason, detail=error.detail))
            return outcomes

        batch_size = 64
    else:
        model = config.text_model
        example = ctx.curated[0]
        example_captions = "\n".join(
            compose(example.pos, compose_templates(ctx.prompt("caption_compose")), 3, max_words)
        )

        def query(concept: Concept) -> Query:
            prompt = ctx.render(
                "captions",
                count=per,
                max_words=max_words,
                concept=concept.concept,
                country=concept.country,
                category=concept.category,
                context=concept.context,
                visual_features=concept.visual_features,
                example_concept=example.pos.concept,
                example_captions=example_captions,
            )

            def validate(data) -> list[Caption]:
                items = data.get("captions") if isinstance(data, dict) else data
                if not isinstance(items, list):
                    raise Invalid("wrong-shape", 'expected {"captions": [...]}')
                texts, errors = [], []
                for item in items:
                    try:
                        text = clean_caption(item, max_words, count_tokens, max_tokens)
                    except Invalid as error:
                        errors.append(error.reason)
                        continue
                    if text not in texts:
                        texts.append(text)
                if len(texts) < per:
                    raise Invalid("too-few-captions", f"{len(texts)} valid of {per} needed; errors {errors}")
                return records(concept, texts)

            seed = item_seed(config.seed, "captions", concept.concept_id)
            return Query(concept.concept_id, [{"role": "user", "content": prompt}], seed, validate)

        def handle(batch):
            return ask(ctx.backend(model), [query(c) for c in batch], model.max_attempts)

        batch_size = model.round_size
    done = {key for key, indices in have.items() if len(indices) >= per}
    return process(ctx, "captions", concepts, lambda c: c.concept_id, handle, batch_size, done)


def compose_templates(text: str) -> list[str]:
    """The caption templates of ``prompts/caption_compose.txt``: one per line, ``#`` lines dropped."""
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
