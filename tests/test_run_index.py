"""The builder's on-disk record index: lookups as a dict would give them, positions of the images,
its temporary files, and memory that does not grow with the run."""

import tempfile
import tracemalloc

import pytest
from cultwin_fixtures import write_run

from cultureclip.dataset_builder import run_index
from cultureclip.dataset_builder.cultwin import _concept_rows, _pair_rows
from cultureclip.dataset_builder.records import Caption, Pair, QualityScore, read_records, record_path, to_json
from cultureclip.dataset_builder.release import build_release
from cultureclip.dataset_builder.run_data import RunFolderError, load_run
from cultureclip.dataset_builder.run_index import RunIndex
from cultureclip.errors import UserError
from cultureclip.testing.synthetic_run import write_synthetic_run


@pytest.fixture
def run_dir(tmp_path):
    return write_run(tmp_path / "run")


@pytest.fixture
def temp_root(tmp_path, monkeypatch):
    """The folder `tempfile` makes its folders in, for this test."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def _append(run_dir, *records):
    with record_path(run_dir, type(records[0])).open("a", encoding="utf-8") as file:
        file.writelines(to_json(record) + "\n" for record in records)


def test_tables_read_like_a_dict_of_the_records_with_the_last_duplicate_winning(run_dir):
    first = read_records(run_dir, Caption)[3]
    _append(run_dir, Caption(first.caption_id, first.concept_id, first.index, "rewritten on resume"))
    _append(run_dir, QualityScore("k00-c0", 1, 1, 1, None, False))
    expected = {c.caption_id: c for c in read_records(run_dir, Caption)}
    index = RunIndex(run_dir)
    try:
        captions = index.tables[Caption]
        assert dict(captions) == expected and list(captions) == list(expected)
        assert list(captions.values()) == list(expected.values()) and len(captions) == len(expected)
        assert captions[first.caption_id].text == "rewritten on resume"
        assert index.tables[QualityScore]["k00-c0"].passed is False
        assert "nope" not in captions and captions.get("nope") is None
        with pytest.raises(KeyError, match="nope"):
            captions["nope"]
    finally:
        index.close()


def _plain_positions(run_dir, pairs):
    """Caption id -> position in its concept's images: the captions ``pairs`` use, by index then id."""
    captions = {c.caption_id: c for c in read_records(run_dir, Caption)}
    used = {c for pair in pairs for c in (pair.pos_caption_id, pair.neg_caption_id)}
    by_concept = {}
    for caption_id in used:
        by_concept.setdefault(captions[caption_id].concept_id, []).append(caption_id)
    ids = {concept: sorted(c, key=lambda c: (captions[c].index, c)) for concept, c in sorted(by_concept.items())}
    return ids, {c: position for members in ids.values() for position, c in enumerate(members)}


def test_image_positions_match_a_plain_reading_of_the_records(run_dir):
    # Captions written out of index order, and a bad image whose pairs are dropped.
    path = record_path(run_dir, Caption)
    path.write_text("".join(reversed(path.read_text().splitlines(keepends=True))))
    (run_dir / "images" / "k02-c1.png").unlink()
    with load_run(run_dir, drop_bad_images=True) as run:
        kept = [p for p in read_records(run_dir, Pair) if "k02-c1" not in (p.pos_caption_id, p.neg_caption_id)]
        concepts, positions = _plain_positions(run_dir, kept)
        assert {c: run.index.image_index(c) for c in positions} == positions
        assert [(concept, ids) for _, concept, ids in run.index.concept_captions()] == list(concepts.items())
        assert len(concepts["k02"]) == 2 and run.index.twin_ids() == sorted({p.twin_id for p in kept})


def test_the_index_file_is_removed_after_a_build_and_after_an_error(run_dir, tmp_path, temp_root):
    build_release(run_dir, tmp_path / "release")
    assert list(temp_root.iterdir()) == []

    _append(run_dir, Pair("p-x", "t00", "k00-c0", "nope"))
    with pytest.raises(RunFolderError, match="unknown neg caption 'nope'"):
        load_run(run_dir)
    assert list(temp_root.iterdir()) == []

    with record_path(run_dir, Caption).open("a") as file:
        file.write("{not json\n")
    with pytest.raises(ValueError, match=r"captions.jsonl:\d+ is not valid JSON"):
        load_run(run_dir)
    assert list(temp_root.iterdir()) == []


def test_a_closed_run_leaves_nothing_and_closes_once(run_dir, temp_root):
    run = load_run(run_dir)
    assert len(list(temp_root.iterdir())) == 1
    run.close()
    run.close()
    assert list(temp_root.iterdir()) == []


def _peak_bytes(run_dir) -> int:
    """Peak Python memory of reading a run and generating every row of both configs."""
    tracemalloc.start()
    with load_run(run_dir) as run:
        twin_ids = set(run.index.twin_ids())
        for rows in (_pair_rows, _concept_rows):
            for _ in rows(run, twin_ids):
                pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_memory_does_not_grow_with_the_number_of_images(tmp_path, monkeypatch):
    monkeypatch.setattr(run_index, "CACHED_LOOKUPS", 16)
    small = write_synthetic_run(tmp_path / "small", 10, 3, image_size=4)
    large = write_synthetic_run(tmp_path / "large", 100, 3, image_size=4)
    _peak_bytes(small)  # the first call pays for imports
    # 540 more images and 810 more pairs: a record held for each would take over 500 KB.
    assert _peak_bytes(large) - _peak_bytes(small) < 100_000


def test_the_run_fingerprint_follows_records_and_images_without_holding_them(tmp_path):
    from cultureclip.dataset_builder.run_data import run_fingerprint

    run_dir = write_synthetic_run(tmp_path / "run", 40, 10, image_size=4)
    first = run_fingerprint(run_dir)
    assert run_fingerprint(run_dir) == first
    tracemalloc.start()
    run_fingerprint(run_dir)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < record_path(run_dir, Pair).stat().st_size / 2  # the pairs file is never read whole

    image = run_dir / "images" / "k00000p-c0.png"
    image.rename(image.with_name("renamed.png"))
    renamed = run_fingerprint(run_dir)
    assert renamed != first
    _append(run_dir, Caption("k00000p-c0", "k00000p", 0, "a new caption"))
    assert run_fingerprint(run_dir) not in (first, renamed)


def test_a_python_with_an_old_sqlite_is_told_what_to_use(run_dir, monkeypatch):
    monkeypatch.setattr(run_index.sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(run_index.sqlite3, "sqlite_version", "3.31.1")
    with pytest.raises(UserError, match=r"SQLite is 3\.31\.1; building a release needs SQLite 3\.33\.0 or newer"):
        RunIndex(run_dir)
