"""Write TwinWorld as a CulTwin generation run folder (`cultureclip.dataset_builder.records`).

The real dataset builder then turns it into the CulTwin release, exactly as it does for a
diffusion-generated run. Caption ``i`` of a concept and caption ``i`` of its twin describe the
same render (same colour, pattern, pose, background and noise) with the concept's own mark, and
they form one pair: the two images differ only in the cultural detail, the two captions only in
the culture's name and mark.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from cultureclip.dataset_builder import records
from cultureclip.schemas import RunRecord

from .render import Difficulty
from .samples import draw_sample
from .world import Concept, concepts, cultural_caption, seed_for, twin_pairs

SOURCE = "twinworld"


STAGE_RECORDS = {
    "concepts": records.Concept,
    "twins": records.Twin,
    "captions": records.Caption,
    "images": records.ImageRecord,
    "quality": records.ImageRecord,  # every render passes: the filter keeps each image
    "pairs": records.Pair,
}
"""Each generation stage -> the records it stands for here (its summary counts them)."""


def _concept_record(concept: Concept) -> records.Concept:
    return records.Concept(
        concept_id=concept.concept_id,
        concept=concept.name,
        country=concept.culture.country,
        category=concept.kind.category,
        context=concept.context,
        visual_features=concept.visual_features,
        source=SOURCE,
    )


def write_run_folder(
    run_dir: str | Path, seed: int, images_per_concept: int, difficulty: Difficulty, stream: str = "finetune"
) -> Path:
    """Render ``images_per_concept`` captioned images per concept of every twin pair into ``run_dir``.

    Args:
        run_dir: A new or empty folder.
        seed: Seed of the renders; with ``stream`` it names an independent set of images
            (``"finetune"`` for training data, ``"heldout"`` for new renders of the same concepts).
        images_per_concept: Captions (and images, and pairs) per concept.
        difficulty: Mark size, noise and image size of the renders.

    Returns:
        ``run_dir``, ready for `cultureclip.dataset_builder.build_release`.
    """
    if images_per_concept < 1:
        raise ValueError(f"images_per_concept={images_per_concept} must be at least 1.")
    run_dir = Path(run_dir)
    if run_dir.exists() and any(run_dir.iterdir()):
        raise FileExistsError(f"{run_dir} is not empty: choose a new folder or delete it.")
    (run_dir / "images").mkdir(parents=True)
    lines: dict[type, list[str]] = {kind: [] for kind in (records.Concept, records.Twin, records.Caption)}
    lines |= {records.ImageRecord: [], records.Pair: []}
    lines[records.Concept] = [records.to_json(_concept_record(c)) for c in concepts()]
    for pair in twin_pairs():
        lines[records.Twin].append(
            records.to_json(
                records.Twin(pair.twin_id, pair.pos.concept_id, pair.neg.concept_id, pair.pos.kind.category)
            )
        )
        for index in range(images_per_concept):
            sample = draw_sample(seed, f"{stream}/{pair.twin_id}", index, difficulty, concept=pair.pos)
            caption_ids = {}
            for side, concept in (("pos", pair.pos), ("neg", pair.neg)):
                caption_id = f"{concept.concept_id}-{stream}-{index:03d}"
                caption_ids[side] = caption_id
                text = cultural_caption(concept, sample.colour, sample.pattern, sample.template)
                lines[records.Caption].append(
                    records.to_json(records.Caption(caption_id, concept.concept_id, index, text))
                )
                path = f"images/{caption_id}.png"
                sample.image(difficulty, concept=concept).save(run_dir / path)
                image_seed = seed_for(seed, f"{stream}/{pair.twin_id}", index)
                size = difficulty.image_size
                lines[records.ImageRecord].append(
                    records.to_json(records.ImageRecord(caption_id, path, image_seed, size, size))
                )
            pair_id = f"{pair.twin_id}-{stream}-{index:03d}"
            lines[records.Pair].append(
                records.to_json(records.Pair(pair_id, pair.twin_id, caption_ids["pos"], caption_ids["neg"]))
            )
    for kind, kind_lines in lines.items():
        records.record_path(run_dir, kind).write_text("".join(line + "\n" for line in kind_lines), encoding="utf-8")
    run_record = RunRecord(
        config={"seed": seed, "stream": stream, "images_per_concept": images_per_concept, **asdict(difficulty)},
        models={
            "images": "benchmarks.twinworld.render (procedural)",
            "text": "benchmarks.twinworld.world templates",
        },
        seed=seed,
        # every generation stage is finished (what build-dataset checks): rendered, not generated
        summary={
            stage: {"items_in": len(lines[kind]), "kept": len(lines[kind]), "failed": 0}
            for stage, kind in STAGE_RECORDS.items()
        },
        extra={"source": SOURCE, "quality_filter": "none: renders are exact, every image passes"},
    )
    run_record.write(run_dir / RunRecord.FILE)
    return run_dir
