"""Damaged release folders (issue 14, points 6 and 8): validate-dataset and the loaders name what
is wrong instead of saying OK, crashing, or filling the gap with nulls."""

import re
import shutil

import pyarrow.parquet as pq
import pytest
from cultwin_fixtures import write_run

from cultureclip.dataset_builder.release import ReleaseConfig, build_release
from cultureclip.dataset_builder.validate import validate_release


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("release")
    return build_release(
        write_run(root / "run"), root / "out", ReleaseConfig(validation_size=2, test_size=2)
    ).output_dir


@pytest.fixture
def release(built, tmp_path):
    return shutil.copytree(built, tmp_path / "out")


def problems(release) -> list[str]:
    return [str(p) for p in validate_release(release, tokenizer=None).problems]


def keep_rows(path, count: int) -> None:
    table = pq.read_table(path)
    pq.write_table(table.slice(0, count), path)


def test_an_empty_split_is_not_ok(release):
    keep_rows(release / "pairs" / "validation-00000-of-00001.parquet", 0)
    assert problems(release) == [
        "[rows] pairs/validation: the split is empty; rebuild the release from a run with pairs in every split"
    ]


def test_a_row_count_that_differs_from_the_card_is_named(release):
    path = release / "pairs" / "train-00000-of-00001.parquet"  # a pair row: no other row names it
    rows = pq.read_metadata(path).num_rows
    keep_rows(path, rows - 1)
    assert problems(release) == [
        f"[rows] pairs/train: {rows - 1} rows, but the card's dataset_info says {rows}; rebuild the release"
    ]


def test_a_corrupt_parquet_file_is_named(release):
    path = release / "concepts" / "train-00000-of-00001.parquet"  # the images: pages large enough to zero
    data = bytearray(path.read_bytes())
    data[200 : len(data) // 2] = bytes(len(data) // 2 - 200)  # zeroed pages, intact footer
    path.write_bytes(bytes(data))
    [problem] = problems(release)
    assert problem.startswith("[schema] concepts/train-00000-of-00001.parquet: cannot be read after row 0 (")


def test_a_column_missing_from_a_data_file_is_named_by_the_loaders(release):
    from cultureclip.evaluation.dataset_io import open_dataset
    from cultureclip.trainer.data import DataArguments, load_split

    path = release / "pairs" / "train-00000-of-00001.parquet"
    pq.write_table(pq.read_table(path).drop_columns(["pos_caption"]), path)
    expected = re.escape(f"{path} lacks the column(s) ['pos_caption'] that the dataset card lists")
    with pytest.raises(ValueError, match=expected):
        load_split(DataArguments(dataset=str(release)), "train")
    with pytest.raises(ValueError, match=expected):
        open_dataset(str(release), split="train[:4]")
    assert len(open_dataset(str(release), split="test")["dataset"]) == 18  # the intact splits still load
