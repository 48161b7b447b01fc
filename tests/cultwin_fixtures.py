"""CulTwin test data: a tiny but realistic generation run folder written through the records
contract, and small in-memory ``pairs`` datasets with the release's features."""

from __future__ import annotations

import json
from itertools import product
from pathlib import Path

from PIL import Image, ImageDraw

from cultureclip.dataset_builder.config import (
    STAGES,
    CaptionConfig,
    DiffusionConfig,
    GenerationConfig,
    ModelConfig,
    QualityConfig,
)
from cultureclip.dataset_builder.records import (
    RUN_RECORD,
    Caption,
    Concept,
    ImageRecord,
    Pair,
    QualityScore,
    Rejection,
    Twin,
    record_path,
    to_json,
)
from cultureclip.testing.synthetic import synthetic_pair_rows as pair_rows

# (concept, country, category), twin (concept, country)
TWINS = [
    (("Mantou", "CN", "Cuisine"), ("Pão de queijo", "BR")),
    (("Erhu", "CN", "Art"), ("Rebab", "ID")),
    (("Kimono", "JP", "Clothing"), ("Hanbok", "KR")),
    (("Pagoda", "JP", "Architecture"), ("Stupa", "NP")),
    (("Maneki-neko", "JP", "Symbol"), ("Nazar amulet", "TR")),
    (("Diwali", "IN", "Festival"), ("Loy Krathong", "TH")),
    (("Baobab", "SN", "Animals & Plants"), ("Boab", "AU")),
    (("Samovar", "RU", "Daily Life"), ("Dallah", "SA")),
    (("Pierogi", "PL", "Cuisine"), ("Empanada", "AR")),
    (("Sombrero", "MX", "Clothing"), ("Non la", "VN")),
]
CAPTIONS_PER_CONCEPT = 3
FAILED = {"k01-c1", "k13-c0"}  # images the quality filter rejects
"""Captions whose image scores badly: pairs using them are not kept."""


def _concepts():
    concepts, twins = [], []
    for t, ((name, country, category), (twin_name, twin_country)) in enumerate(TWINS):
        pos = Concept(
            f"k{2 * t:02d}",
            name,
            country,
            category,
            f"{name}, part of daily life in {country}.",
            f"the look of {name.lower()}",
            "curated",
        )
        neg = Concept(
            f"k{2 * t + 1:02d}",
            twin_name,
            twin_country,
            category,
            f"{twin_name}, part of daily life in {twin_country}.",
            f"the look of {twin_name.lower()}",
            "top-down",
        )
        concepts += [pos, neg]
        twins.append(Twin(f"t{t:02d}", pos.concept_id, neg.concept_id, category))
    return concepts, twins


def _write(run_dir: Path, records) -> None:
    path = record_path(run_dir, type(records[0]))
    path.write_text("".join(to_json(r) + "\n" for r in records), encoding="utf-8")


def write_run(run_dir: str | Path, size: int = 32) -> Path:
    """Write a finished generation run: 10 twin pairs in all 8 categories, 3 captions per concept,
    two images failing the quality filter, some rejections and a run record."""
    run_dir = Path(run_dir)
    (run_dir / "images").mkdir(parents=True)
    concepts, twins = _concepts()
    captions, images, scores = [], [], []
    for n, concept in enumerate(concepts):
        for index in range(CAPTIONS_PER_CONCEPT):
            caption_id = f"{concept.concept_id}-c{index}"
            captions.append(
                Caption(
                    caption_id,
                    concept.concept_id,
                    index,
                    f"A photo of {concept.concept} ({index}), {concept.visual_features}.",
                )
            )
            image = Image.new("RGB", (size, size), ((37 * n) % 256, (91 * index) % 256, (53 * n + 17) % 256))
            ImageDraw.Draw(image).rectangle((index, index, size // 2, size // 2), fill=(255 - n, 0, 128))
            image.save(run_dir / "images" / f"{caption_id}.png")
            images.append(ImageRecord(caption_id, f"images/{caption_id}.png", 1000 + 10 * n + index, size, size))
            failed = caption_id in FAILED
            scores.append(
                QualityScore(
                    caption_id,
                    4,
                    1 if failed else 4,
                    3 if failed else 5,
                    None if n % 5 == 0 else 0.25 + 0.01 * n,
                    not failed,
                )
            )
    pairs = []
    for twin in twins:
        pos = [c.caption_id for c in captions if c.concept_id == twin.pos_concept_id]
        neg = [c.caption_id for c in captions if c.concept_id == twin.neg_concept_id]
        for p, q in product(pos, neg):
            if p not in FAILED and q not in FAILED:
                pairs.append(Pair(f"{twin.twin_id}-{p}-{q}", twin.twin_id, p, q))
    rejections = [
        Rejection("twins", "k99", "same_country", "Tteok is also from KR"),
        Rejection("twins", "k98", "malformed_output", "no JSON object in the reply"),
        *(Rejection("quality", c, "failed_filter", "a score of 1") for c in sorted(FAILED)),
    ]
    for records in (concepts, twins, captions, images, scores, pairs, rejections):
        _write(run_dir, records)
    # Top-down concepts, model-written captions and VLM scores: the paper's method.
    config = GenerationConfig(
        source="top-down",
        text_model=ModelConfig("tiny-models/llm"),
        vision_model=ModelConfig("tiny-models/vlm"),
        captions=CaptionConfig(per_concept=CAPTIONS_PER_CONCEPT),
        diffusion=DiffusionConfig("tiny-models/diffusion"),
        quality=QualityConfig(clip_model="tiny-models/clip"),
    )
    run_record = {
        "config": config.to_dict(),
        "models": {"llm": "tiny-models/llm", "diffusion": "tiny-models/diffusion", "vlm": "tiny-models/vlm"},
        "prompts": {"captions": "Write {n} captions of under 15 words for {concept}."},
        "sampling": {"temperature": 0.7, "max_new_tokens": 512},
        "seeds": {"base": 1000},
        "summary": {stage: {"items_in": 60, "kept": 60, "rejected": {}, "failed": 0} for stage in STAGES}
        | {
            "twins": {"items_in": 12, "kept": 10, "rejected": {"same_country": 1, "malformed_output": 1}, "failed": 0},
            "quality": {"items_in": 60, "kept": 58, "rejected": {"failed_filter": 2}, "failed": 0},
        },
    }
    (run_dir / RUN_RECORD).write_text(json.dumps(run_record, indent=2), encoding="utf-8")
    return run_dir


def kept_pair_count() -> int:
    per_twin = CAPTIONS_PER_CONCEPT * CAPTIONS_PER_CONCEPT
    # k01-c1 (twin t00's neg) and k13-c0 (twin t06's neg) each remove one row of 3 pairs.
    return len(TWINS) * per_twin - 2 * CAPTIONS_PER_CONCEPT


def pairs_dataset(rows: list[dict] | None = None, **kwargs):
    """A ``datasets.Dataset`` of pairs with their images in the rows (`inline_pairs_features`)."""
    from datasets import Dataset

    from cultureclip.testing.synthetic import inline_pairs_features

    rows = pair_rows(**kwargs) if rows is None else rows
    features = inline_pairs_features()
    columns = {name: [row[name] for row in rows] for name in features}
    return Dataset.from_dict(columns, features=features)
