"""validate-dataset on a good release and on corrupted copies of it."""

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cultwin_fixtures import write_run

from cultureclip.cli import main
from cultureclip.dataset_builder.release import ReleaseConfig, build_release
from cultureclip.dataset_builder.validate import validate_release


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("validate")
    out = root / "out"
    build_release(write_run(root / "run"), out, ReleaseConfig(validation_size=2, test_size=2))
    return out


@pytest.fixture
def release(built, tmp_path):
    copy = tmp_path / "out"
    shutil.copytree(built, copy)
    return copy


def _rewrite(path, edit):
    """Apply ``edit(rows) -> rows`` to a Parquet file, keeping its schema (and HF features)."""
    table = pq.read_table(path)
    pq.write_table(pa.Table.from_pylist(edit(table.to_pylist()), schema=table.schema), path)


def test_a_built_release_is_valid(release, tiny_models, capsys):
    report = validate_release(release, tokenizer=str(tiny_models["clip"]))
    assert report.ok, report.format()
    assert sum(report.num_rows["pairs"].values()) == 84
    assert main(["validate-dataset", str(release), "--tokenizer", str(tiny_models["clip"])]) == 0
    assert f"{release}: OK" in capsys.readouterr().out


def test_corrupted_rows_are_named(release, tiny_models, capsys):
    train = release / "pairs" / "train-00000-of-00001.parquet"
    test = release / "pairs" / "test-00000-of-00001.parquet"
    concepts = release / "concepts" / "train-00000-of-00001.parquet"
    leaked = pq.read_table(test).to_pylist()[0]
    first_concept = pq.read_table(concepts).to_pylist()[0]

    def corrupt_concepts(rows):
        rows[0]["images"][0] = {"bytes": b"\x89PNG\r\n\x1a\n truncated", "path": "x.png"}
        rows[1]["images"][1] = {"bytes": None, "path": "/somewhere/else.png"}
        return rows

    def corrupt(rows):
        rows[0]["pos_image_index"] = 99
        rows[1]["neg_caption"] = "not the caption of that image"
        rows[2]["pos_caption"] = "a very long caption " * 30
        duplicate = dict(rows[3])
        content_copy = dict(rows[4], pair_id="renamed")
        return [*rows, duplicate, content_copy, leaked]

    _rewrite(concepts, corrupt_concepts)
    _rewrite(train, corrupt)
    report = validate_release(release, tokenizer=str(tiny_models["clip"]))
    found = {(p.check, p.location.split(" (")[0]) for p in report.problems}
    rows = pq.read_table(train, columns=["pair_id"]).column("pair_id").to_pylist()
    n = len(rows)
    assert ("image", "concepts/train row 0") in found
    assert ("image", "concepts/train row 1") in found
    assert ("reference", "pairs/train row 0") in found
    assert ("reference", "pairs/train row 1") in found
    assert ("caption_length", "pairs/train row 2") in found
    assert ("duplicate", f"pairs/train row {n - 3}") in found
    assert ("duplicate", f"pairs/train row {n - 2}") in found
    assert ("reference", f"pairs/train row {n - 1}") in found  # the leaked row's concepts are in concepts/test
    assert ("duplicate", "pairs/test row 0") in found  # the leaked row, read again in test
    assert ("leakage", f"twin {leaked['twin_id']}") in found
    assert ("leakage", f"concept {leaked['pos_concept_id']}") in found
    messages = "\n".join(map(str, report.problems))
    assert "no embedded image bytes (only a path, '/somewhere/else.png')" in messages
    assert "pos_image_index 99 is not an image of" in messages
    assert "neg_caption differs from concepts/train" in messages
    assert f"pair_id '{rows[n - 3]}' also at pairs/train row 3 ({rows[3]})" in messages

    assert main(["validate-dataset", str(release), "--tokenizer", str(tiny_models["clip"])]) == 1
    out = capsys.readouterr().out
    assert f"concepts/train row 0 ({first_concept['concept_id']}): image 0: does not decode" in out
    assert "leakage: 3 problem(s)" in out


def test_schema_and_card_problems(release):
    concepts = release / "concepts" / "test-00000-of-00001.parquet"
    pq.write_table(pq.read_table(concepts).drop_columns(["region"]), concepts)
    (release / "pairs" / "validation-00000-of-00001.parquet").unlink()
    report = validate_release(release, tokenizer=None)
    messages = [str(p) for p in report.problems]
    assert any(
        "[schema] concepts/test-00000-of-00001.parquet: schema differs: missing ['region']" in m for m in messages
    )
    assert not [m for m in messages if m.startswith("[reference]")]  # not one per pair of the unreadable concepts
    assert "[card] pairs/validation: no file matches 'pairs/validation-*.parquet'" in messages

    (release / "README.md").write_text("---\nconfigs: [\n---\n")
    assert validate_release(release, tokenizer=None).problems[0].message.startswith("cannot be parsed")
    (release / "README.md").unlink()
    assert [p.check for p in validate_release(release, tokenizer=None).problems] == ["card"]


def test_an_unloadable_tokenizer_is_a_clear_error(release, tmp_path, capsys):
    assert main(["validate-dataset", str(release), "--tokenizer", str(tmp_path / "no-such-tokenizer")]) == 2
    assert "no-such-tokenizer' not found: no such local folder" in capsys.readouterr().err
