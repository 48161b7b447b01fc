"""The records a CulTwin generation run writes, one JSON Lines file per kind.

A run folder is the contract between the generation stages (which append records as items
finish) and the ``datasets`` builder (which reads them)::

    RUN_DIR/
      run.json            the run record: config, model ids, prompt texts, sampling, seeds, summary
      concepts.jsonl      Concept
      twins.jsonl         Twin
      captions.jsonl      Caption
      images.jsonl        ImageRecord (the PNG files live under images/)
      scores.jsonl        QualityScore
      pairs.jsonl         Pair (the caption pairs kept after the quality filter)
      rejected.jsonl      Rejection (what a stage refused, and why)
      images/<caption_id>.png
      .lock               the OS lock a writing `generate` holds (`run_folder.lock_run`)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import TypeVar

from cultureclip.schemas import RunRecord

CATEGORIES = (
    "Cuisine",
    "Clothing",
    "Art",
    "Architecture",
    "Symbol",
    "Festival",
    "Animals & Plants",
    "Daily Life",
)
"""The paper's eight cultural categories, in the order of the dataset's ``ClassLabel``."""

RUN_RECORD = RunRecord.FILE


@dataclass(frozen=True)
class Concept:
    concept_id: str
    concept: str
    country: str
    """ISO 3166-1 alpha-2 code."""
    category: str
    context: str
    visual_features: str
    source: str
    """Where it came from: ``curated``, ``top-down`` (LLM), ``bottom-up`` (VLM over a corpus) or
    ``twin`` (proposed by the twin stage as the twin of a top-down or bottom-up concept)."""


@dataclass(frozen=True)
class Twin:
    twin_id: str
    pos_concept_id: str
    neg_concept_id: str
    category: str
    group: str = ""
    """The split group it shares with twins about the same subject (curated lines that overlap);
    ``""``: a group of its own."""

    @property
    def split_group(self) -> str:
        """What the dataset splits by: `group`, or the twin's own id when it has none."""
        return self.group or self.twin_id


@dataclass(frozen=True)
class Caption:
    caption_id: str
    concept_id: str
    index: int
    text: str


@dataclass(frozen=True)
class ImageRecord:
    caption_id: str
    path: str
    """Relative to the run folder, e.g. ``images/<caption_id>.png``."""
    seed: int
    width: int
    height: int


@dataclass(frozen=True)
class QualityScore:
    caption_id: str
    authenticity: int | None
    consistency: int | None
    cultural_fidelity: int | None
    clip_score: float | None
    passed: bool


@dataclass(frozen=True)
class Pair:
    pair_id: str
    twin_id: str
    pos_caption_id: str
    neg_caption_id: str


@dataclass(frozen=True)
class Rejection:
    stage: str
    item_id: str
    reason: str
    detail: str = ""


FILES: dict[type, str] = {
    Concept: "concepts.jsonl",
    Twin: "twins.jsonl",
    Caption: "captions.jsonl",
    ImageRecord: "images.jsonl",
    QualityScore: "scores.jsonl",
    Pair: "pairs.jsonl",
    Rejection: "rejected.jsonl",
}

R = TypeVar("R")


def record_path(run_dir: str | Path, kind: type) -> Path:
    return Path(run_dir) / FILES[kind]


def to_json(record) -> str:
    return json.dumps(asdict(record), ensure_ascii=False, sort_keys=True)


def read_records(run_dir: str | Path, kind: type[R]) -> list[R]:
    """All records of one kind in a run folder (an absent file is an empty list); see `iter_records`."""
    return list(iter_records(run_dir, kind))


def iter_records(run_dir: str | Path, kind: type[R]) -> Iterator[R]:
    """The records of one kind in a run folder, read a line at a time (an absent file has none).

    A line that is not a complete record of this kind raises a ``ValueError`` naming the file
    and line, except a torn last line (no trailing newline), which is what a killed writer leaves
    and is ignored.
    """
    path = record_path(run_dir, kind)
    if not path.exists():
        return
    names = {f.name for f in fields(kind)}
    # A field added later with a default is optional, so older run folders still read.
    required = {f.name for f in fields(kind) if f.default is MISSING}
    with path.open(encoding="utf-8", newline="\n") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.endswith("\n"):  # torn last line
                return
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number} is not valid JSON ({error}); fix or delete that line.") from None
            if not required <= set(data) <= names:
                raise ValueError(
                    f"{path}:{number} has fields {sorted(data)}, expected {sorted(names)} for {kind.__name__}."
                )
            yield kind(**data)
