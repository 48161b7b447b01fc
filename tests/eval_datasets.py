"""Small local datasets in each benchmark's exact schema, with images made here (PIL)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from cultureclip.dataset_builder.records import CATEGORIES

BROKEN = {"bytes": b"this is not an image", "path": None}


def image(index: int, size: int = 40):
    """A distinct small RGB image (a colour pattern) for each index."""
    from PIL import Image

    picture = Image.new("RGB", (size, size), ((index * 53) % 256, (index * 97) % 256, (index * 151) % 256))
    picture.putpixel((index % size, (index // size) % size), (255, 255, 255))
    return picture


def png(index: int) -> bytes:
    buffer = io.BytesIO()
    image(index).save(buffer, format="PNG")
    return buffer.getvalue()


def globalrg_retrieval_rows() -> dict:
    """Universals in 5, 4 and 2 regions (the last one filtered out), interleaved."""
    rows = {"image": [], "universal": [], "region": []}
    layout = [
        ("bread", ["Asia", "Europe", "Africa", "South America", "Oceania"]),
        ("wedding", ["Asia", "Europe", "North America", "Africa"]),
        ("hat", ["Asia", "Europe"]),
    ]
    for _ in range(2):
        for universal, regions in layout:
            for region in regions:
                rows["image"].append(image(len(rows["image"])))
                rows["universal"].append(universal)
                rows["region"].append(region)
    return rows


def globalrg_grounding_rows() -> dict:
    """Regions with 5, 4 and 3 concepts (the last one filtered out)."""
    rows = {"image": [], "region": [], "concept": []}
    layout = {
        "Asia": ["mantou", "baozi", "jiaozi", "momo", "gyoza"],
        "Africa": ["injera", "fufu", "jollof rice", "bunny chow"],
        "Europe": ["pierogi", "ravioli", "pelmeni"],
    }
    for region, concepts in layout.items():
        for concept in concepts:
            rows["image"].append(image(len(rows["image"])))
            rows["region"].append(region)
            rows["concept"].append(concept)
    return rows


def crope_rows() -> dict:
    """Rows answered "no" (kept) and "yes" (dropped), with 1-2 definition images each."""
    rows = {"image": [], "definition_images": [], "metadata": [], "answer": []}
    pairs = [("erhu", "violin"), ("hanbok", "dress"), ("torii", "gate"), ("mantou", "bread"), ("sari", "scarf")]
    for index, (target, definition) in enumerate(pairs):
        rows["image"].append(image(100 + index))
        rows["definition_images"].append([image(200 + 10 * index + j) for j in range(1 + index % 2)])
        rows["metadata"].append({"image_en_concept": target, "definition_concept": definition})
        rows["answer"].append("yes" if index == 2 else "no")
    return rows


def save(rows: dict, features: dict, path: Path, split: str = "test") -> Path:
    """``save_to_disk`` a one-split DatasetDict (what ``--dataset name=PATH`` reads)."""
    from datasets import Dataset, DatasetDict, Features

    DatasetDict({split: Dataset.from_dict(rows, features=Features(features))}).save_to_disk(str(path))
    return path


def globalrg_retrieval(path: Path) -> Path:
    from datasets import Image, Value

    return save(
        globalrg_retrieval_rows(), {"image": Image(), "universal": Value("string"), "region": Value("string")}, path
    )


def globalrg_grounding(path: Path) -> Path:
    from datasets import Image, Value

    return save(
        globalrg_grounding_rows(), {"image": Image(), "region": Value("string"), "concept": Value("string")}, path
    )


def crope(path: Path) -> Path:
    from datasets import Image, List, Value

    features = {
        "image": Image(),
        "definition_images": List(Image()),
        "metadata": {"image_en_concept": Value("string"), "definition_concept": Value("string")},
        "answer": Value("string"),
    }
    return save(crope_rows(), features, path)


def cultwin_rows() -> dict:
    """CulTwin ``concepts`` rows: two twin pairs, 2 captions (and images) per concept."""
    twins = [
        ("Erhu", "CN", "Sarangi", "IN", "Art"),
        ("Mantou", "CN", "Bolo bao", "HK", "Cuisine"),
    ]
    names = ("concept_id", "concept", "country", "region", "category", "context", "visual_features")
    rows: dict[str, list] = {name: [] for name in (*names, "captions", "images", "twin_concept_id", "twin_concept")}
    for twin, (pos, pos_country, neg, neg_country, category) in enumerate(twins):
        sides = (("p", pos, pos_country, neg), ("n", neg, neg_country, pos))
        for side, concept, country, twin_concept in sides:
            rows["concept_id"].append(f"c{twin}{side}")
            rows["concept"].append(concept)
            rows["country"].append(country)
            rows["region"].append("Asia")
            rows["category"].append(CATEGORIES.index(category))
            rows["context"].append(f"context of {concept}")
            rows["visual_features"].append(f"features of {concept}")
            rows["captions"].append([f"caption {k} of {concept}" for k in range(2)])
            rows["images"].append([image(300 + 10 * twin + 5 * (side == "n") + k) for k in range(2)])
            rows["twin_concept_id"].append(f"c{twin}{'n' if side == 'p' else 'p'}")
            rows["twin_concept"].append(twin_concept)
    return rows


def cultwin_pair_rows(sampled: bool = False) -> dict:
    """CulTwin ``pairs`` rows of `cultwin_rows`: every caption of ``c<t>p`` with every caption of its
    twin ``c<t>n`` (2 x 2 per twin pair), or, ``sampled``, caption k with the twin's caption k only."""
    from cultureclip.dataset_builder.cultwin import pairs_features

    concepts = cultwin_rows()
    by_id = {concept_id: row for row, concept_id in enumerate(concepts["concept_id"])}
    rows: dict[str, list] = {name: [] for name in pairs_features()}
    for twin in range(2):
        pos, neg = by_id[f"c{twin}p"], by_id[f"c{twin}n"]
        for k in range(2):
            for j in (k,) if sampled else range(2):
                rows["pair_id"].append(f"t{twin}-{k}-{j}")
                rows["twin_id"].append(f"t{twin}")
                rows["category"].append(concepts["category"][pos])
                for side, row, index in (("pos", pos, k), ("neg", neg, j)):
                    for name in ("concept_id", "concept", "country", "context", "visual_features"):
                        rows[f"{side}_{name}"].append(concepts[name][row])
                    rows[f"{side}_caption"].append(concepts["captions"][row][index])
                    rows[f"{side}_image_index"].append(index)
                    rows[f"{side}_quality"].append(None)
    return rows


def release(configs: dict, path: Path, split: str = "test") -> Path:
    """A folder of Parquet data files with one folder per configuration and a card that lists them,
    as ``build-dataset`` writes (what ``--dataset name=PATH`` reads with a config)."""
    from datasets import Dataset

    card = ["---", "configs:"]
    for name, (rows, features) in configs.items():
        Dataset.from_dict(rows, features=features).to_parquet(str(path / name / f"{split}-00000-of-00001.parquet"))
        card += [
            f"- config_name: {name}",
            "  data_files:",
            f"  - split: {split}",
            f"    path: {name}/{split}-*.parquet",
        ]
    (path / "README.md").write_text("\n".join([*card, "---", ""]))
    return path


def cultwin(path: Path, sampled: bool = False) -> Path:
    """A CulTwin release with a ``test`` split: `cultwin_rows` (``concepts``) and `cultwin_pair_rows`."""
    from cultureclip.dataset_builder.cultwin import concepts_features, pairs_features

    configs = {
        "concepts": (cultwin_rows(), concepts_features()),
        "pairs": (cultwin_pair_rows(sampled), pairs_features()),
    }
    return release(configs, path)


def zeroshot_parquet(path: Path, classes=("cat", "dog", "bird"), rows: int = 12) -> Path:
    """``PATH/test.parquet`` with image, label (ClassLabel) and region: read by ``load_dataset(PATH)``."""
    from datasets import ClassLabel, Dataset, Features, Image, Value

    features = Features({"image": Image(), "label": ClassLabel(names=list(classes)), "region": Value("string")})
    data = {
        "image": [image(400 + i) for i in range(rows)],
        "label": [i % len(classes) for i in range(rows)],
        "region": [("Africa", "Asia", "Europe")[i % 3] for i in range(rows)],
    }
    path.mkdir(parents=True, exist_ok=True)
    Dataset.from_dict(data, features=features).to_parquet(str(path / "test.parquet"))
    return path


def retrieval_imagefolder(path: Path, images: int = 6) -> Path:
    """An imagefolder ``PATH/test/`` with two captions per image in ``metadata.jsonl``."""
    folder = path / "test"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "metadata.jsonl", "w") as metadata:
        for index in range(images):
            image(500 + index).save(folder / f"{index}.png")
            captions = [f"a picture number {index}", f"another view of item {index}"]
            metadata.write(json.dumps({"file_name": f"{index}.png", "caption": captions}) + "\n")
    return path


# Images that decode differently with a plain PIL convert("RGB") than through `datasets` and the processor.


def noise(width=40, height=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def encoded(image, format="PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **kwargs)
    return buffer.getvalue()


def exif_rotated_jpeg() -> bytes:
    """A 40x24 JPEG whose EXIF says "rotate 90° clockwise to display" (orientation 6)."""
    image = Image.fromarray(noise())
    exif = image.getexif()
    exif[Image.ExifTags.Base.Orientation] = 6
    return encoded(image, "JPEG", exif=exif)


def rgba_png() -> bytes:
    """Coloured pixels, some fully or half transparent (a plain RGB conversion keeps their colour)."""
    alpha = np.tile(np.array([0, 128, 255], dtype=np.uint8), 14)[:40][None, :].repeat(24, axis=0)
    return encoded(Image.fromarray(np.dstack([noise(), alpha]), "RGBA"))


def la_png() -> bytes:
    grey = noise()[..., 0]
    alpha = np.where(np.arange(40)[None, :] % 2 == 0, 0, 255).astype(np.uint8).repeat(24, axis=0)
    return encoded(Image.fromarray(np.dstack([grey, alpha]), "LA"))


def palette_png_with_transparency() -> bytes:
    image = Image.fromarray(noise()).quantize(colors=8)
    return encoded(image, transparency=int(np.asarray(image)[0, 0]))


CASES = {
    "exif-rotated-jpeg": exif_rotated_jpeg,
    "rgba-png": rgba_png,
    "la-png": la_png,
    "palette-png-with-transparency": palette_png_with_transparency,
}
