"""The CulTwin dataset card: statistics of a release, its preview grid and the rendered card."""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from pathlib import Path

from cultureclip import CULTWIN_REPO_ID
from cultureclip.schemas import FORMAT_KEY, RunRecord

from .config import STAGES, looks_like_path
from .records import CATEGORIES
from .run_data import RunData
from .taxonomy import country_region

CARD_TEMPLATE = "dataset_card.md"
PREVIEW_IMAGE = "preview.png"
_PREVIEW = ("concept", "country", "caption")
LOCAL = "a local model"
"""How the card names a model, tokenizer or dataset the run read from a local folder."""
LOCAL_FILE = "a local file"
STAGE_COLUMNS = ("items_in", "kept", "rejected", "failed", "seconds", "note")
_PAIR_COLUMNS = ["pair_id", "twin_id", "pos_concept_id", "neg_concept_id", "category", "pos_country", "neg_country"]


def template_path() -> Path:
    """The card template, ``dataset_card.md`` at the root of the repository."""
    from cultureclip.resources import project_file

    return project_file(CARD_TEMPLATE)


def _read_columns(files: list[Path], columns: list[str]):
    """Yield the rows of ``columns`` of Parquet ``files``, a batch at a time."""
    import pyarrow.parquet as pq

    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(columns=columns, batch_size=4096):
            yield from batch.to_pylist()


def release_statistics(split_files: dict[str, list[Path]], run: RunData) -> dict:
    """Counts of a release, read back from its ``pairs`` Parquet files, and the run's filter rates.

    Args:
        split_files: ``{split: [parquet files of the pairs config]}``.
        run: The run the release was built from (for filter pass rates and rejections).

    Returns:
        A dict with ``pairs``, ``twin_pairs``, ``concepts``, ``countries`` (totals),
        ``splits`` (split -> pairs, twin_pairs, concepts), ``categories`` (category -> pairs,
        twin_pairs, concepts), ``regions`` (region -> concepts, countries), ``coverage``
        (region -> category -> concepts, every category listed), ``filter`` (images
        scored/passed and pass rate, dropped bad images and pairs) and ``rejections``
        (stage -> reason -> count).
    """
    splits, categories, regions = {}, {name: Counter() for name in CATEGORIES}, {}
    all_concepts: dict[str, str] = {}
    concept_categories: dict[str, str] = {}
    twins: set[str] = set()
    total_pairs = 0
    for split, files in split_files.items():
        concepts, split_twins, split_pairs = {}, set(), 0
        for row in _read_columns(files, _PAIR_COLUMNS):
            split_pairs += 1
            split_twins.add(row["twin_id"])
            category = CATEGORIES[row["category"]]
            categories[category]["pairs"] += 1
            if row["twin_id"] not in twins:
                twins.add(row["twin_id"])
                categories[category]["twin_pairs"] += 1
                categories[category]["concepts"] += 2
            concepts[row["pos_concept_id"]] = row["pos_country"]
            concepts[row["neg_concept_id"]] = row["neg_country"]
            concept_categories[row["pos_concept_id"]] = concept_categories[row["neg_concept_id"]] = category
        splits[split] = {
            "pairs": split_pairs,
            "twin_pairs": len(split_twins),
            "concepts": len(concepts),
        }
        total_pairs += split_pairs
        all_concepts |= concepts
    for country in all_concepts.values():
        regions.setdefault(country_region(country), Counter())["concepts"] += 1
    coverage: dict[str, Counter] = {}
    for concept_id, country in all_concepts.items():
        coverage.setdefault(country_region(country), Counter())[concept_categories[concept_id]] += 1
    for region in regions:
        regions[region]["countries"] = len({c for c in all_concepts.values() if country_region(c) == region})
    scored = len(run.scores)
    passed = sum(score.passed for score in run.scores.values())
    rejections: dict[str, Counter] = {}
    for (stage, reason), count in run.rejected.items():
        rejections.setdefault(stage, Counter())[reason] += count
    return {
        "pairs": total_pairs,
        "twin_pairs": len(twins),
        "concepts": len(all_concepts),
        "countries": len(set(all_concepts.values())),
        "splits": splits,
        "categories": {name: dict(counts) for name, counts in categories.items() if counts},
        "regions": {name: dict(regions[name]) for name in sorted(regions)},
        "coverage": {name: {c: coverage[name][c] for c in CATEGORIES} for name in sorted(coverage)},
        "filter": {
            "images_scored": scored,
            "images_passed": passed,
            "image_pass_rate": passed / scored if scored else None,
            "dropped_bad_images": len(run.dropped_images),
            "dropped_pairs": run.dropped_pairs,
        },
        "rejections": {stage: dict(reasons) for stage, reasons in sorted(rejections.items())},
    }


def preview_rows(pair_files: list[Path], concept_files: list[Path], count: int = 4) -> list[dict]:
    """The first caption pair of up to ``count`` twin pairs of one split, distinct categories first,
    with its two images (``{side}_image``) read from the split's ``concepts`` files."""
    import pyarrow.parquet as pq

    firsts: dict[str, tuple[int, int]] = {}  # twin_id -> (row, category)
    for index, row in enumerate(_read_columns(pair_files[:1], ["twin_id", "category"])):
        firsts.setdefault(row["twin_id"], (index, row["category"]))
    seen_categories: set[int] = set()
    new_category, others = [], []
    for index, category in firsts.values():
        (others if category in seen_categories else new_category).append(index)
        seen_categories.add(category)
    chosen = (new_category + others)[:count]
    columns = [f"{side}_{name}" for side in ("pos", "neg") for name in (*_PREVIEW, "concept_id", "image_index")]
    rows = pq.read_table(pair_files[0], columns=columns).take(chosen).to_pylist()
    wanted = {row[f"{side}_concept_id"] for row in rows for side in ("pos", "neg")}
    images = {}
    for path in concept_files:  # the images of only the row groups that hold a wanted concept, one at a time
        parquet = pq.ParquetFile(path)
        for group in range(parquet.num_row_groups):
            ids = parquet.read_row_group(group, columns=["concept_id"])["concept_id"].to_pylist()
            if chosen_rows := [index for index, concept_id in enumerate(ids) if concept_id in wanted]:
                table = parquet.read_row_group(group, columns=["concept_id", "images"]).take(chosen_rows)
                images |= dict(zip(table["concept_id"].to_pylist(), table["images"].to_pylist()))
    for row in rows:
        for side in ("pos", "neg"):
            row[f"{side}_image"] = images[row[f"{side}_concept_id"]][row[f"{side}_image_index"]]
    return rows


def preview_grid(rows: list[dict], path: str | Path, tile: int = 192) -> Path:
    """Draw twin pairs side by side (positive | twin), each image over its concept and caption.

    Args:
        rows: Dicts with ``{pos,neg}_{concept,country,caption,image}``; an image is
            ``{"bytes": ...}`` as stored in the Parquet files.
        path: Where to write the PNG.
        tile: Width and height of each image, in pixels.
    """
    from PIL import Image, ImageDraw, ImageFont

    from cultureclip.imaging import decode_image

    font = ImageFont.load_default()
    text_height, pad = 64, 8
    width = 2 * tile + 3 * pad
    grid = Image.new("RGB", (width, max(1, len(rows)) * (tile + text_height + pad) + pad), "white")
    draw = ImageDraw.Draw(grid)
    for r, row in enumerate(rows):
        top = pad + r * (tile + text_height + pad)
        for c, side in enumerate(("pos", "neg")):
            left = pad + c * (tile + pad)
            grid.paste(decode_image(row[f"{side}_image"]).resize((tile, tile)), (left, top))
            label = f"{row[f'{side}_concept']} ({row[f'{side}_country']})"
            caption = textwrap.wrap(row[f"{side}_caption"], width=tile // 6)[:3]
            draw.multiline_text((left, top + tile + 2), "\n".join([label, *caption]), fill="black", font=font)
    path = Path(path)
    grid.save(path)
    return path


def recorded_config(run_record: RunRecord):
    """The `GenerationConfig` a run recorded in ``run.json``, or ``None`` when it holds none this
    version reads (a run folder written by other code, such as TwinWorld's).

    The card's account of how the concepts, twins and captions were written and how the images
    were filtered follows this config; without one, the card leaves that to the run record.
    """
    from .config import GenerationConfig

    try:
        return GenerationConfig.from_dict(run_record.config)
    except ValueError:
        return None


def public_record(run_record: RunRecord, generation) -> dict:
    """The run record as the card shows it: a model, tokenizer or dataset the run read from a
    local folder is `LOCAL`, never the path of the machine it ran on (``/home/me/tiny-models/clip``)."""
    data = run_record.to_dict()
    data.pop(FORMAT_KEY)
    data["models"] = {role: _public(value) for role, value in run_record.models.items()}
    if generation is not None:
        config = data["config"] = json.loads(json.dumps(data["config"]))  # a copy to edit
        for dotted in [*generation.references(), "curated_path"]:
            *sections, key = dotted.split(".")
            section = config
            for name in sections:
                section = section.get(name) or {}
            if key in section:
                section[key] = _public(section[key], LOCAL_FILE if dotted == "curated_path" else LOCAL)
    return data


def _public(reference, local: str = LOCAL):
    if isinstance(reference, str) and (looks_like_path(reference) or Path(reference).expanduser().exists()):
        return local
    return reference


def model_written_texts(config) -> str:
    """What a language (or vision-language) model wrote in a run of ``config``, as the card's
    sentences name it: ``"the twins and the captions"``-like, ``""`` when none did (or unknown)."""
    if config is None:
        return ""
    texts = [] if config.source == "curated" else ["the concept names, contexts and visual features", "the twins"]
    texts += ["the captions"] if config.captions.mode == "llm" else []
    return ", ".join(texts[:-1]) + " and " + texts[-1] if len(texts) > 1 else "".join(texts)


def filters_images(config) -> bool | None:
    """Whether a run of ``config`` filtered its images (VLM scores or a CLIP-score threshold);
    ``None`` when unknown."""
    if config is None:
        return None
    return config.quality.vlm_scores or config.quality.min_clip_score is not None


def _summary_rows(summary) -> list[dict] | None:
    """The run record's per-stage summary as table rows in pipeline order, when it is
    ``{stage: {name: value}}`` (files written before the order was kept list stages alphabetically)."""
    if not isinstance(summary, dict) or not all(isinstance(v, dict) for v in summary.values()):
        return None
    order = {stage: index for index, stage in enumerate(STAGES)}
    rows = []
    for stage in sorted(summary, key=lambda stage: order.get(stage, len(order))):
        values = summary[stage]
        cells = {
            key: ", ".join(f"{k}: {v}" for k, v in values[key].items())
            if isinstance(values[key], dict)
            else values[key]
            for key in sorted(
                values, key=lambda key: STAGE_COLUMNS.index(key) if key in STAGE_COLUMNS else len(STAGE_COLUMNS)
            )
        }
        rows.append({"stage": stage, **cells})
    return rows


def render_card(
    card_data,
    statistics: dict,
    run_record: RunRecord,
    pretty_name: str = "CulTwin",
    repo_id: str = CULTWIN_REPO_ID,
    space_id: str | None = None,
):
    """Render the dataset card from the ``dataset_card.md`` Jinja template.

    Args:
        card_data: A ``huggingface_hub.DatasetCardData`` with the YAML metadata (configs, license...).
        statistics: `release_statistics` of the release.
        run_record: The run's ``run.json``: its models, prompts, sampling settings, seeds,
            config and summary are shown as they were recorded (local paths as `LOCAL`), and its config (`recorded_config`)
            decides what the card says wrote the texts and filtered the images.
        pretty_name: The dataset's display name.
        repo_id: The Hub id shown in the loading examples.
        space_id: The Hub id of the demo Space the card links to, if any.

    Returns:
        A ``huggingface_hub.DatasetCard``.
    """
    from huggingface_hub import DatasetCard

    generation = recorded_config(run_record)
    summary_rows = _summary_rows(run_record.summary)
    summary_columns = list(dict.fromkeys(k for row in summary_rows or [] for k in row))
    recorded = {
        key: json.dumps(value, indent=2, ensure_ascii=False, sort_keys=key != "summary")
        for key, value in public_record(run_record, generation).items()
        if not (key == "summary" and summary_rows)
    }
    return DatasetCard.from_template(
        card_data,
        template_path=str(template_path()),
        pretty_name=pretty_name,
        repo_id=repo_id,
        stats=statistics,
        generation=generation,
        model_texts=model_written_texts(generation),
        filtered=filters_images(generation),
        recorded=recorded,
        summary_rows=summary_rows,
        summary_columns=summary_columns,
        preview_image=PREVIEW_IMAGE,
        space_id=space_id,
    )
