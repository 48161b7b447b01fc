"""Stage 7: score every image; an image passes with no score of 1 and a mean above 3.

The vision model scores authenticity, consistency (with the caption) and cultural fidelity from
1 to 5 (``quality.vlm_scores``). An optional CLIP-score (100 x the cosine of the image and caption
embeddings, floored at 0) is recorded with ``quality.clip_model`` and filters with
``quality.min_clip_score``. With neither, every image passes.
"""

from __future__ import annotations

from .pipeline import StageContext, StageResult, process
from .records import Caption, Concept, ImageRecord, QualityScore, read_records
from .run_folder import item_seed
from .structured import Invalid, Outcome, Query, ask

SCORES = ("authenticity", "consistency", "cultural_fidelity")


def validate_scores(data) -> dict[str, int]:
    """``{"authenticity": 1-5, "consistency": 1-5, "cultural_fidelity": 1-5}`` or `Invalid`."""
    if not isinstance(data, dict):
        raise Invalid("wrong-shape", f"expected an object with {list(SCORES)}")
    scores = {}
    for name in SCORES:
        value = data.get(name)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            raise Invalid("bad-score", f"{name}={value!r} is not an integer from 1 to 5")
        scores[name] = value
    return scores


def passes(scores: dict[str, int]) -> bool:
    """The paper's rule: no score of 1 and a mean above 3."""
    return min(scores.values()) > 1 and sum(scores.values()) / len(scores) > 3


class ClipScorer:
    """CLIP-score of images against their captions (texts truncated to the model's 77 tokens).

    Args:
        model: Hub id or local folder of a ``CLIPModel``.
        device: where it runs (default: this process's accelerator, `cultureclip.devices.default_device`).
    """

    def __init__(self, model: str, device=None):
        from transformers import AutoProcessor, CLIPModel

        from cultureclip.devices import default_device

        self.model = CLIPModel.from_pretrained(model).eval().to(device or default_device())
        self.processor = AutoProcessor.from_pretrained(model)

    def __call__(self, images, texts: list[str]) -> list[float]:
        import torch

        inputs = self.processor(text=texts, images=images, return_tensors="pt", padding=True, truncation=True)
        inputs = inputs.to(self.model.device)
        with torch.inference_mode():
            image = self.model.get_image_features(pixel_values=inputs["pixel_values"]).pooler_output
            text = self.model.get_text_features(
                input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]
            ).pooler_output
        cosine = torch.nn.functional.cosine_similarity(image, text, dim=-1)
        return [round(100 * max(c, 0.0), 4) for c in cosine.tolist()]


def run(ctx: StageContext) -> StageResult:
    from cultureclip.imaging import decode_image

    config, quality = ctx.config, ctx.config.quality
    captions = {c.caption_id: c for c in read_records(ctx.run_dir, Caption)}
    concepts = {c.concept_id: c for c in read_records(ctx.run_dir, Concept)}
    records = read_records(ctx.run_dir, ImageRecord)
    reader = config.reader if quality.vlm_scores else None
    scorer: list[ClipScorer] = []

    def query(record: ImageRecord, image) -> Query:
        caption = captions[record.caption_id]
        concept = concepts[caption.concept_id]
        prompt = ctx.render(
            "quality",
            caption=caption.text,
            concept=concept.concept,
            country=concept.country,
            category=concept.category,
            visual_features=concept.visual_features,
        )
        content = [{"type": "image", "image": image}, {"type": "text", "text": prompt}]
        seed = item_seed(config.seed, "quality", record.caption_id)
        return Query(record.caption_id, [{"role": "user", "content": content}], seed, lambda d: [validate_scores(d)])

    def handle(batch: list[ImageRecord]) -> list[Outcome]:
        images = [decode_image(ctx.run_dir / r.path) for r in batch]
        clip = [None] * len(batch)
        if quality.clip_model:
            if not scorer:
                scorer.append(ClipScorer(quality.clip_model))
            clip = scorer[0](images, [captions[r.caption_id].text for r in batch])
        if reader is not None:
            answers = ask(ctx.backend(reader), [query(r, i) for r, i in zip(batch, images)], reader.max_attempts)
        else:
            answers = [Outcome(r.caption_id, records=[{}]) for r in batch]
        outcomes = []
        for record, answer, clip_score in zip(batch, answers, clip):
            if answer.rejected is not None or answer.failed is not None:
                outcomes.append(answer)
                continue
            scores = answer.records[0]
            passed = (not scores or passes(scores)) and (
                quality.min_clip_score is None or clip_score >= quality.min_clip_score
            )
            score = QualityScore(record.caption_id, *(scores.get(n) for n in SCORES), clip_score, passed)
            outcomes.append(Outcome(record.caption_id, records=[score]))
        return outcomes

    done = {s.caption_id for s in read_records(ctx.run_dir, QualityScore)}
    batch_size = reader.round_size if reader is not None else 16
    return process(ctx, "quality", records, lambda r: r.caption_id, handle, batch_size, done)
