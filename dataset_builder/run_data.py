"""Read a generation run folder into the joined, checked view the dataset builder needs.

The builder releases exactly the caption pairs in ``pairs.jsonl`` (what the quality filter kept).
Every reference must resolve (pair -> twin and captions, caption -> concept, caption -> image
file) and every image a kept pair uses must exist and decode. A run folder that breaks this is
refused with an error naming the bad items; with ``drop_bad_images=True`` the pairs that use a
missing or corrupt image are dropped instead and counted in `RunData.dropped_images`.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cultureclip.schemas import RunRecord, SchemaError

from .config import STAGES
from .records import (
    CATEGORIES,
    FILES,
    RUN_RECORD,
    Caption,
    Concept,
    ImageRecord,
    Pair,
    QualityScore,
    Rejection,
    Twin,
    iter_records,
)
from .run_index import RunIndex


class RunFolderError(ValueError):
    """A generation run folder the dataset cannot be built from."""


@dataclass(frozen=True)
class BadImage:
    caption_id: str
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path} (caption {self.caption_id}): {self.reason}"


@dataclass(frozen=True)
class PairRecords:
    """The kept caption pairs of a run, read from ``pairs.jsonl`` on each pass (never all held in
    memory, so building a release of any size needs the same memory), minus those using a bad image."""

    run_dir: Path
    dropped_captions: frozenset[str]
    count: int

    def __iter__(self) -> Iterator[Pair]:
        for pair in iter_records(self.run_dir, Pair):
            if pair.pos_caption_id not in self.dropped_captions and pair.neg_caption_id not in self.dropped_captions:
                yield pair

    def __len__(self) -> int:
        return self.count


@dataclass
class RunData:
    """The records of one run, looked up by id in an on-disk `RunIndex`, restricted to what the
    release contains. Close it (or use it in a ``with`` block) to remove the index's temporary file."""

    run_dir: Path
    run_record: RunRecord
    index: RunIndex = field(repr=False)
    pairs: PairRecords
    """The kept caption pairs, in file order (minus those dropped for bad images)."""
    rejected: Counter[tuple[str, str]]
    """``(stage, reason)`` -> how many items ``rejected.jsonl`` records."""
    dropped_images: list[BadImage] = field(default_factory=list)
    dropped_pairs: int = 0

    @property
    def concepts(self) -> Mapping[str, Concept]:
        return self.index.tables[Concept]

    @property
    def twins(self) -> Mapping[str, Twin]:
        return self.index.tables[Twin]

    @property
    def captions(self) -> Mapping[str, Caption]:
        return self.index.tables[Caption]

    @property
    def images(self) -> Mapping[str, ImageRecord]:
        return self.index.tables[ImageRecord]

    @property
    def scores(self) -> Mapping[str, QualityScore]:
        return self.index.tables[QualityScore]

    def image_path(self, caption_id: str) -> str:
        return _join(self.run_dir, self.images[caption_id].path)

    def close(self) -> None:
        self.index.close()

    def __enter__(self) -> RunData:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _join(run_dir: Path, relative: str) -> str:
    # A string, not a Path: pathlib (before Python 3.12) interns every part of every path for good,
    # which would keep each image's file name in memory.
    return os.path.join(run_dir, relative)


def check_image(run_dir: Path, caption_id: str, record: ImageRecord | None) -> BadImage | None:
    """Why the image of ``caption_id`` cannot be used (no record, no file, does not decode), or ``None``."""
    from cultureclip.imaging import image_problem

    if record is None:
        return BadImage(caption_id, f"images/{caption_id}.png", "no record in images.jsonl")
    path = _join(run_dir, record.path)
    if not os.path.isfile(path):
        return BadImage(caption_id, record.path, "file missing")
    problem = image_problem(path)
    return BadImage(caption_id, record.path, problem) if problem else None


def _fail(message: str, items: list[str]) -> None:
    if items:
        shown = "\n  ".join(items[:20])
        more = f"\n  ... and {len(items) - 20} more" if len(items) > 20 else ""
        raise RunFolderError(f"{message}:\n  {shown}{more}")


def _read_run_record(run_dir: Path) -> RunRecord:
    path = run_dir / RUN_RECORD
    if not path.is_file():
        raise RunFolderError(f"{path} is missing: the run record is needed for the dataset card; rerun generation.")
    try:
        return RunRecord.read(path)
    except SchemaError as error:
        raise RunFolderError(str(error)) from None


def _check_finished(run_dir: Path, run_record: RunRecord) -> None:
    """Every generation stage ran to the end: it has a summary in ``run.json`` with nothing pending."""
    for stage in STAGES:
        done = run_record.summary.get(stage)
        if not isinstance(done, dict):
            why = "did not finish (it has no summary in run.json)"
        elif done.get("failed"):
            why = f"left {done['failed']} item(s) pending"
        else:
            continue
        raise RunFolderError(
            f"{run_dir} is an unfinished run: stage {stage!r} {why}; finish it with the same "
            f"'cultureclip generate --config CONFIG --output-dir {run_dir}' that started the run."
        )


def _check_references(index: RunIndex, pairs: PairRecords) -> None:
    concepts, twins, captions = (index.tables[kind] for kind in (Concept, Twin, Caption))
    problems = []
    for twin in twins.values():
        problems += [
            f"twin {twin.twin_id}: unknown concept {c!r}"
            for c in (twin.pos_concept_id, twin.neg_concept_id)
            if c not in concepts
        ]
        if twin.category not in CATEGORIES:
            problems.append(f"twin {twin.twin_id}: unknown category {twin.category!r}, expected one of {CATEGORIES}")
    problems += [
        f"concept {c.concept_id}: unknown category {c.category!r}, expected one of {CATEGORIES}"
        for c in concepts.values()
        if c.category not in CATEGORIES
    ]
    _fail("Twins or concepts with broken references", problems)
    _fail(
        "Concepts in more than one twin pair (each concept has exactly one twin)",
        [f"concept {c}: twins {ids}" for c, ids in index.shared_concepts()],
    )
    _fail(
        "Captions name unknown concepts",
        [
            f"caption {c.caption_id}: concept {c.concept_id!r}"
            for c in captions.values()
            if c.concept_id not in concepts
        ],
    )
    problems = []
    for pair in pairs:
        twin = twins.get(pair.twin_id)
        if twin is None:
            problems.append(f"pair {pair.pair_id}: unknown twin {pair.twin_id!r}")
            continue
        for side, caption_id, concept_id in (
            ("pos", pair.pos_caption_id, twin.pos_concept_id),
            ("neg", pair.neg_caption_id, twin.neg_concept_id),
        ):
            caption = captions.get(caption_id)
            if caption is None:
                problems.append(f"pair {pair.pair_id}: unknown {side} caption {caption_id!r}")
            elif caption.concept_id != concept_id:
                problems.append(
                    f"pair {pair.pair_id}: {side} caption {caption_id!r} is of concept {caption.concept_id!r}, "
                    f"twin {twin.twin_id} says {concept_id!r}"
                )
    _fail("Pairs with broken references", problems)


def run_fingerprint(run_dir: str | Path) -> str:
    """A hash of what `load_run` reads: the bytes of ``run.json`` and of every record file, and the
    name, size and modification time of every file under ``images/`` (hashing every image would
    take as long as building the dataset). Files are read a block at a time and the images are
    combined in any order, so the memory it needs does not grow with the run."""
    run_dir = Path(run_dir)
    digest = hashlib.sha256()
    for name in (RUN_RECORD, *FILES.values()):
        path = run_dir / name
        size = path.stat().st_size if path.is_file() else 0
        digest.update(f"{name}\0{size}\0".encode())
        if size:
            with path.open("rb") as file:
                while block := file.read(1 << 16):
                    digest.update(block)
    if (run_dir / "images").is_dir():
        images = 0  # a sum of one hash per file: the same whatever order the folder lists them in
        for entry in os.scandir(run_dir / "images"):
            stat = entry.stat()
            entry_digest = hashlib.sha256(f"{entry.name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).digest()
            images = (images + int.from_bytes(entry_digest, "big")) % 2**256
        digest.update(images.to_bytes(32, "big"))
    return digest.hexdigest()[:16]


def _why_no_pairs(rejections: Counter[tuple[str, str]]) -> str:
    rejected = {reason: n for (stage, reason), n in rejections.items() if stage == "pairs"}
    if not rejected:
        return "finish the generation run first."
    reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(rejected.items()))
    return f"the pairs stage kept none and rejected {sum(rejected.values())} ({reasons}); rejected.jsonl says why."


def load_run(run_dir: str | Path, drop_bad_images: bool = False) -> RunData:
    """Read and check a generation run folder.

    Args:
        run_dir: The folder a generation run wrote (see `cultureclip.dataset_builder.records`).
        drop_bad_images: Drop the pairs that use a missing or corrupt image (and count them)
            instead of refusing the folder.

    Raises:
        RunFolderError: The folder is missing, is unfinished (a stage did not run to the end),
            has no kept pairs, has broken references or
            (without ``drop_bad_images``) missing or corrupt images; the message names them.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(f"Run folder {run_dir} does not exist: pass the --output-dir of a generation run.")
    run_record = _read_run_record(run_dir)
    _check_finished(run_dir, run_record)
    index = RunIndex(run_dir)
    try:
        return _checked_run(run_dir, run_record, index, drop_bad_images)
    except BaseException:
        index.close()
        raise


def _checked_run(run_dir: Path, run_record: RunRecord, index: RunIndex, drop_bad_images: bool) -> RunData:
    captions, images = index.tables[Caption], index.tables[ImageRecord]
    pairs = PairRecords(run_dir, frozenset(), sum(1 for _ in iter_records(run_dir, Pair)))
    rejected = Counter((r.stage, r.reason) for r in iter_records(run_dir, Rejection))
    if not pairs:
        raise RunFolderError(f"{run_dir} has no kept caption pairs in pairs.jsonl: {_why_no_pairs(rejected)}")
    _check_references(index, pairs)
    index.index_pairs(pairs, captions)
    _fail("Duplicate pair ids in pairs.jsonl", [f"{pair_id} ({n} times)" for pair_id, n in index.repeated_pair_ids()])

    bad = [b for b in (check_image(run_dir, c, images.get(c)) for c in index.used_captions()) if b is not None]
    if bad and not drop_bad_images:
        _fail(
            f"{run_dir} has missing or corrupt images (regenerate them, or pass --drop-bad-images "
            "to drop the pairs that use them)",
            [str(b) for b in bad],
        )
    dropped = frozenset(b.caption_id for b in bad)
    if dropped:  # index only the released pairs: their captions give the images' positions
        index.index_pairs(PairRecords(run_dir, dropped, 0), captions)
    kept = PairRecords(run_dir, dropped, index.pair_count())
    if not kept:
        raise RunFolderError(f"Every caption pair of {run_dir} uses a bad image; nothing is left to release.")
    return RunData(
        run_dir=run_dir,
        run_record=run_record,
        index=index,
        pairs=kept,
        rejected=rejected,
        dropped_images=bad,
        dropped_pairs=len(pairs) - len(kept),
    )
