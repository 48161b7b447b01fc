"""Check a CulTwin release folder the way its users will read it.

Checks: the card's YAML lists both configs and their files; every Parquet file reads and has
exactly the CulTwin schema; every split has rows, as many as the card's ``dataset_info`` says;
every image is embedded and decodes; every pair's images are an image of its concepts in the
split's ``concepts`` rows, with the same caption; no twin pair or concept is in two splits
(in either config); no duplicate rows (same id, or same concepts and captions under another id);
no caption longer than CLIP's 77 tokens. The report names each bad row as
``<config>/<split> row <n> (<id>)``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .release import CONFIGS

DEFAULT_TOKENIZER = "openai/clip-vit-base-patch32"
CLIP_MAX_TOKENS = 77
_KEYS = {"pairs": "pair_id", "concepts": "concept_id"}
_SHOWN_PER_CHECK = 50


@dataclass(frozen=True)
class Problem:
    check: str
    """``card``, ``schema``, ``rows``, ``image``, ``reference``, ``leakage``, ``duplicate`` or ``caption_length``."""
    location: str
    message: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.location}: {self.message}"


@dataclass
class ValidationReport:
    output_dir: Path
    num_rows: dict[str, dict[str, int]] = field(default_factory=dict)
    """config -> split -> rows read."""
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self) -> str:
        """A readable report: the rows read, then the problems grouped by check."""
        lines = [
            f"{config}/{split}: {rows} rows"
            for config, splits in self.num_rows.items()
            for split, rows in splits.items()
        ]
        if self.ok:
            return "\n".join([*lines, f"{self.output_dir}: OK"])
        by_check = defaultdict(list)
        for problem in self.problems:
            by_check[problem.check].append(problem)
        for check, problems in by_check.items():
            lines.append(f"{check}: {len(problems)} problem(s)")
            lines += [f"  {p.location}: {p.message}" for p in problems[:_SHOWN_PER_CHECK]]
            if len(problems) > _SHOWN_PER_CHECK:
                lines.append(f"  ... and {len(problems) - _SHOWN_PER_CHECK} more")
        lines.append(f"{self.output_dir}: {len(self.problems)} problem(s)")
        return "\n".join(lines)


def _config_files(output_dir: Path, report: ValidationReport) -> dict[str, dict[str, list[Path]]]:
    """config -> split -> Parquet files, from the card's YAML ``configs:``."""
    from huggingface_hub import DatasetCard

    readme = output_dir / "README.md"
    if not readme.is_file():
        report.problems.append(Problem("card", str(readme), "missing: rebuild with 'cultureclip build-dataset'"))
        return {}
    try:
        configs = DatasetCard.load(readme).data.to_dict().get("configs") or []
    except Exception as error:  # the card's YAML is what users' load_dataset reads; any failure is a finding
        report.problems.append(Problem("card", str(readme), f"cannot be parsed ({error})"))
        return {}
    files = {}
    for entry in configs:
        name = entry.get("config_name")
        if name not in CONFIGS:
            report.problems.append(Problem("card", str(readme), f"unknown config {name!r} in 'configs:'"))
            continue
        files[name] = {}
        for data_files in entry.get("data_files") or []:
            split, pattern = data_files["split"], data_files["path"]
            files[name][split] = sorted(output_dir.glob(pattern))
            if not files[name][split]:
                report.problems.append(Problem("card", f"{name}/{split}", f"no file matches {pattern!r}"))
    for name in CONFIGS:
        if name not in files:
            report.problems.append(Problem("card", str(readme), f"config {name!r} is not listed in 'configs:'"))
    return files


def _card_rows(output_dir: Path) -> dict[tuple[str, str], int]:
    """(config, split) -> ``num_examples`` from the card's ``dataset_info`` (read once `_config_files` parsed it)."""
    from huggingface_hub import DatasetCard

    infos = DatasetCard.load(output_dir / "README.md").data.to_dict().get("dataset_info") or []
    infos = [infos] if isinstance(infos, dict) else infos
    return {
        (info.get("config_name", "default"), split["name"]): split["num_examples"]
        for info in infos
        if isinstance(info, dict)
        for split in info.get("splits") or []
        if isinstance(split, dict) and isinstance(split.get("num_examples"), int)
    }


def _row_count_problem(rows: int, card_rows: int | None) -> str | None:
    if rows == 0:
        return "the split is empty; rebuild the release from a run with pairs in every split"
    if card_rows is None:
        return f"{rows} rows, but the card's dataset_info records no num_examples for it; rebuild the release"
    if rows != card_rows:
        return f"{rows} rows, but the card's dataset_info says {card_rows}; rebuild the release"
    return None


def _schema_problem(path: Path, config: str) -> str | None:
    import datasets
    import pyarrow.parquet as pq

    from .cultwin import FEATURES

    expected = FEATURES[config]()
    try:
        found = datasets.Features.from_arrow_schema(pq.read_schema(path))
    except Exception as error:  # an unreadable file or foreign metadata is a finding, not a crash
        return f"cannot read the schema ({error})"
    if found == expected:
        return None
    missing = [c for c in expected if c not in found]
    extra = [c for c in found if c not in expected]
    changed = [c for c in expected if c in found and found[c] != expected[c]]
    return f"schema differs: missing {missing}, unexpected {extra}, wrong type {changed}"


def _image_problem(image: dict | None) -> str | None:
    from cultureclip.imaging import image_problem

    if image is None or image.get("bytes") is None:
        return "no embedded image bytes" + (f" (only a path, {image.get('path')!r})" if image else "")
    return image_problem(image["bytes"])


class _Checker:
    """Accumulates what the row-level checks need while the rows stream by."""

    def __init__(self, report: ValidationReport):
        self.report = report
        self.splits_of = defaultdict(dict)  # ("twin" | "concept", id) -> {split: first location}
        self.keys: dict[tuple[str, str], str] = {}
        self.contents: dict[tuple, str] = {}
        self.captions = defaultdict(list)  # text -> locations
        self.concept_captions: dict[tuple[str, str], list[str]] = {}  # (split, concept_id) -> its captions
        self.unread_concepts: set[str] = set()  # splits whose concepts could not all be read: no reference check

    def add(self, location: str, check: str, message: str) -> None:
        self.report.problems.append(Problem(check, location, message))

    def row(self, config: str, split: str, location: str, row: dict) -> None:
        key = row[_KEYS[config]]
        if (config, key) in self.keys:
            self.add(location, "duplicate", f"{_KEYS[config]} {key!r} also at {self.keys[config, key]}")
        self.keys.setdefault((config, key), location)
        if config == "pairs":
            images = []
            captions = [row["pos_caption"], row["neg_caption"]]
            for side in ("pos", "neg"):
                self.reference(split, location, side, row)
            members = [
                ("twin", row["twin_id"]),
                ("concept", row["pos_concept_id"]),
                ("concept", row["neg_concept_id"]),
            ]
            content = (row["pos_concept_id"], row["neg_concept_id"], row["pos_caption"], row["neg_caption"])
            if content in self.contents:
                self.add(location, "duplicate", f"same concepts and captions as {self.contents[content]}")
            self.contents.setdefault(content, location)
        else:
            images, captions = row["images"], row["captions"]
            self.concept_captions[split, row["concept_id"]] = captions
            members = [("concept", row["concept_id"]), ("concept", row["twin_concept_id"])]
            if len(images) != len(captions):
                self.add(location, "schema", f"{len(captions)} captions but {len(images)} images")
        for index, image in enumerate(images):
            problem = _image_problem(image)
            if problem:
                self.add(location, "image", f"image {index}: {problem}")
        for text in captions:
            self.captions[text].append(location)
        for member in members:
            self.splits_of[member].setdefault(split, location)

    def reference(self, split: str, location: str, side: str, row: dict) -> None:
        """Check that a pair's ``side`` image is an image of its concept in the split, with its caption."""
        if split in self.unread_concepts:
            return
        concept_id, index = row[f"{side}_concept_id"], row[f"{side}_image_index"]
        captions = self.concept_captions.get((split, concept_id))
        if captions is None:
            self.add(location, "reference", f"{side} concept {concept_id!r} has no row in concepts/{split}")
        elif index is None or not 0 <= index < len(captions):
            self.add(
                location,
                "reference",
                f"{side}_image_index {index} is not an image of {concept_id!r} (it has {len(captions)})",
            )
        elif captions[index] != row[f"{side}_caption"]:
            self.add(
                location, "reference", f"{side}_caption differs from concepts/{split} {concept_id!r} caption {index}"
            )

    def finish(self, tokenizer, max_tokens: int) -> None:
        for (kind, member_id), splits in sorted(self.splits_of.items()):
            if len(splits) > 1:
                where = ", ".join(splits.values())
                self.add(f"{kind} {member_id}", "leakage", f"in {len(splits)} splits: {where}")
        if tokenizer is None or not self.captions:
            return
        texts = list(self.captions)
        lengths = [len(ids) for ids in tokenizer(texts, verbose=False)["input_ids"]]
        for text, length in zip(texts, lengths):
            if length > max_tokens:
                for location in self.captions[text]:
                    self.add(location, "caption_length", f"{length} tokens > {max_tokens}: {text[:60]!r}...")


def load_tokenizer(name_or_path: str):
    """The tokenizer the captions are measured with (CLIP's, by default)."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name_or_path)
    except OSError as error:
        raise ValueError(
            f"Cannot load the tokenizer {name_or_path!r} ({error}); pass --tokenizer with a Hub id or a local "
            "CLIP checkpoint folder."
        ) from None


def validate_release(
    output_dir: str | Path, tokenizer: str | None = DEFAULT_TOKENIZER, max_tokens: int = CLIP_MAX_TOKENS
) -> ValidationReport:
    """Validate a release folder written by `cultureclip.dataset_builder.release.build_release`.

    Args:
        output_dir: The release folder.
        tokenizer: Hub id or local path of the tokenizer captions are measured with; ``None``
            skips the caption-length check.
        max_tokens: The longest caption allowed, in tokens including the start and end tokens.

    Returns:
        A `ValidationReport`; ``report.ok`` is False when anything is wrong.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    output_dir = Path(output_dir)
    report = ValidationReport(output_dir)
    checker = _Checker(report)
    files_of = _config_files(output_dir, report)
    card_rows = _card_rows(output_dir) if files_of else {}
    read_concepts = {split for split, files in files_of.get("concepts", {}).items() if files}
    checker.unread_concepts |= set(files_of.get("pairs", {})) - read_concepts
    for config, splits in sorted(files_of.items(), key=lambda item: item[0] != "concepts"):  # pairs refer to concepts
        report.num_rows[config] = {}
        for split, files in splits.items():
            index, readable = 0, bool(files)
            for path in files:
                name = str(path.relative_to(output_dir))
                problem = _schema_problem(path, config)
                if problem:
                    report.problems.append(Problem("schema", name, problem))
                    readable = False
                    if config == "concepts":
                        checker.unread_concepts.add(split)
                    continue
                try:
                    for batch in pq.ParquetFile(path).iter_batches(batch_size=256):
                        for row in batch.to_pylist():
                            location = f"{config}/{split} row {index} ({row[_KEYS[config]]})"
                            checker.row(config, split, location, row)
                            index += 1
                except (OSError, pa.ArrowException) as error:  # a corrupt page past a readable footer
                    report.problems.append(Problem("schema", name, f"cannot be read after row {index} ({error})"))
                    readable = False
                    if config == "concepts":
                        checker.unread_concepts.add(split)
            report.num_rows[config][split] = index
            problem = _row_count_problem(index, card_rows.get((config, split))) if readable else None
            if problem:
                report.problems.append(Problem("rows", f"{config}/{split}", problem))
    checker.finish(load_tokenizer(tokenizer) if tokenizer else None, max_tokens)
    return report
