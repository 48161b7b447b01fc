"""Corrupt and unfinished run folders (issue 14, points 3 and 5): an unfinished run is not
released; an image that did not reach the disk is regenerated on resume, never left behind its record."""

import io
import json
import os

import numpy as np
import pytest
from cultwin_fixtures import write_run
from PIL import Image
from test_generate import snapshot, tiny_argv

from cultureclip.cli import main
from cultureclip.dataset_builder.records import RUN_RECORD, ImageRecord, read_records


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda summary: summary.pop("pairs"), "stage 'pairs' did not finish (it has no summary in run.json)"),
        (lambda summary: summary["quality"].update(failed=3), "stage 'quality' left 3 item(s) pending"),
        (lambda summary: summary.clear(), "stage 'concepts' did not finish"),
    ],
)
def test_build_dataset_refuses_an_unfinished_run(tmp_path, capsys, damage, expected):
    run_dir = write_run(tmp_path / "run")
    record = json.loads((run_dir / RUN_RECORD).read_text())
    damage(record["summary"])
    (run_dir / RUN_RECORD).write_text(json.dumps(record))
    out = tmp_path / "out"
    assert main(["build-dataset", str(run_dir), "--output-dir", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert expected in error and f"--output-dir {run_dir}" in error and "\n" not in error
    assert not out.exists() or not any(out.iterdir())


def fd_path(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def test_images_reach_the_disk_before_their_records(tiny_models, tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd_path(fd)), real_fsync(fd))[1])
    out = tmp_path / "run"
    assert main(["generate", *tiny_argv(tiny_models, out), "--stages", "concepts,twins,captions,images"]) == 0
    first_record_sync = synced.index(str(out / "images.jsonl"))
    images = {str(out / r.path) for r in read_records(out, ImageRecord)}
    # every file was fsynced (under its temporary name) and the folder after the renames, before the records
    assert sum(".tmp" in path for path in synced[:first_record_sync]) == len(images)
    assert str(out / "images") in synced[:first_record_sync]


def test_resume_regenerates_an_image_whose_record_exists_but_file_does_not_decode(tiny_models, tmp_path):
    out = tmp_path / "run"
    argv = ["generate", *tiny_argv(tiny_models, out)]
    assert main([*argv, "--stages", "concepts,twins,captions,images"]) == 0
    before = snapshot(out)
    torn = out / read_records(out, ImageRecord)[3].path
    torn.write_bytes(torn.read_bytes()[:100])  # what a power loss leaves of a file not yet on disk
    assert main(argv) == 0  # the quality stage reads every image: it would crash on the torn one
    after = {name: data for name, data in snapshot(out).items() if name in before}
    name = f"images/{torn.name}"
    assert {k: v for k, v in after.items() if k != name} == {k: v for k, v in before.items() if k != name}
    with Image.open(torn) as redone, Image.open(io.BytesIO(before[name])) as original:
        difference = np.abs(np.asarray(redone, dtype=int) - np.asarray(original, dtype=int))
    assert difference.max() <= 1  # the same latents again (float rounding aside), and no second record
