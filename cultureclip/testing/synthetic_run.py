"""A synthetic finished generation run folder at any size, written fast: records and small noise
images, no models. For the scale benchmark (`benchmarks/scale.py`) and its test."""

from __future__ import annotations

import os
import random
from pathlib import Path


def write_synthetic_run(
    run_dir: str | Path, twin_pairs: int, captions_per_concept: int = 10, image_size: int = 48, seed: int = 0
) -> Path:
    """Write a finished run: ``twin_pairs`` twin pairs, ``captions_per_concept`` captions (and one
    distinct random-noise PNG each) per concept, every caption paired with every twin caption.

    Records are written line by line, so memory does not grow with the size.

    Returns:
        ``run_dir``.
    """
    from PIL import Image

    from cultureclip.dataset_builder.config import STAGES, CaptionConfig, GenerationConfig, QualityConfig
    from cultureclip.dataset_builder.records import (
        CATEGORIES,
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
    from cultureclip.schemas import RunRecord

    run_dir = Path(run_dir)
    (run_dir / "images").mkdir(parents=True)
    rng = random.Random(seed)
    kinds = (Concept, Twin, Caption, ImageRecord, QualityScore, Pair, Rejection)
    files = {kind: record_path(run_dir, kind).open("w", encoding="utf-8") for kind in kinds}
    try:
        for t in range(twin_pairs):
            category = CATEGORIES[t % len(CATEGORIES)]
            sides = []
            for side, country in (("p", "JP"), ("n", "CN")):
                concept = Concept(
                    f"k{t:05d}{side}", f"concept {t}{side}", country, category, f"context {t}", "features", "curated"
                )
                files[Concept].write(to_json(concept) + "\n")
                ids = []
                for index in range(captions_per_concept):
                    caption_id = f"{concept.concept_id}-c{index}"
                    text = f"A photo of {concept.concept}, view {index} with {rng.randrange(10**6)} details."
                    path = run_dir / "images" / f"{caption_id}.png"
                    Image.frombytes("RGB", (image_size, image_size), os.urandom(3 * image_size**2)).save(path)
                    files[Caption].write(to_json(Caption(caption_id, concept.concept_id, index, text)) + "\n")
                    record = ImageRecord(caption_id, f"images/{caption_id}.png", t, image_size, image_size)
                    files[ImageRecord].write(to_json(record) + "\n")
                    files[QualityScore].write(to_json(QualityScore(caption_id, 4, 4, 4, 0.3, True)) + "\n")
                    ids.append(caption_id)
                sides.append((concept, ids))
            (pos, pos_ids), (neg, neg_ids) = sides
            twin = Twin(f"t{t:05d}", pos.concept_id, neg.concept_id, category)
            files[Twin].write(to_json(twin) + "\n")
            for p in pos_ids:
                for n in neg_ids:
                    files[Pair].write(to_json(Pair(f"{p}--{n}", twin.twin_id, p, n)) + "\n")
    finally:
        for handle in files.values():
            handle.close()
    config = GenerationConfig(
        source="curated",
        captions=CaptionConfig(mode="compose", per_concept=captions_per_concept),
        quality=QualityConfig(vlm_scores=False),
    )
    images = 2 * twin_pairs * captions_per_concept
    counts = {"concepts": 2 * twin_pairs, "twins": twin_pairs, "captions": images, "images": images}
    counts |= {"quality": images, "pairs": twin_pairs * captions_per_concept**2}
    summary = {
        stage: {"items_in": counts.get(stage, 0), "kept": counts.get(stage, 0), "rejected": {}, "failed": 0}
        for stage in STAGES
    }
    RunRecord(config=config.to_dict(), seed=seed, summary=summary).write(run_dir / RunRecord.FILE)
    return run_dir
