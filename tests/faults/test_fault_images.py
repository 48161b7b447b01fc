"""Issue 14.7 and 14.16: one image check for every command (a truncated PNG gets one verdict
everywhere), and a decompression bomb is a bad image like any other."""

from eval_datasets import encoded, noise
from PIL import Image

from cultureclip.imaging import image_problem


def _png_missing_iend() -> bytes:
    return encoded(Image.fromarray(noise(64, 64)))[:-12]


def _png_cut_in_half() -> bytes:
    data = encoded(Image.fromarray(noise(64, 64)))
    return data[: len(data) // 2]


def test_one_check_judges_truncated_pngs_the_same_everywhere(tmp_path):
    """A PNG without its end chunk decodes (as in `datasets`); one cut in its pixel data does not.
    Build, validation and training give the same verdict on each (training used ``verify()``)."""
    from cultureclip.dataset_builder.records import ImageRecord
    from cultureclip.dataset_builder.run_data import check_image
    from cultureclip.dataset_builder.validate import _image_problem
    from cultureclip.trainer.collator import row_problem

    for data, readable in ((_png_missing_iend(), True), (_png_cut_in_half(), False)):
        (tmp_path / "images").mkdir(exist_ok=True)
        (tmp_path / "images" / "c.png").write_bytes(data)
        record = ImageRecord("c", "images/c.png", seed=0, width=64, height=64)
        image = {"bytes": data, "path": None}
        row = {"pos_image": image, "neg_image": image, "pos_caption": "a", "neg_caption": "b"}
        row |= {"pos_concept": "c", "neg_concept": "d"}
        verdicts = {
            "imaging": image_problem(data),
            "build": check_image(tmp_path, "c", record),
            "validate": _image_problem(image),
            "train": row_problem(row),
        }
        if readable:
            assert verdicts == dict.fromkeys(verdicts), verdicts
        else:
            assert all(verdicts.values()), verdicts
            assert "image file is truncated" in verdicts["imaging"]


def test_a_decompression_bomb_is_a_bad_image(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    problem = image_problem(encoded(Image.fromarray(noise(64, 64))))
    assert problem.startswith("does not decode (DecompressionBombError: Image size (4096 pixels) exceeds limit")


def test_build_dataset_treats_a_decompression_bomb_as_a_bad_image(tmp_path, capsys, monkeypatch):
    from cultwin_fixtures import write_run

    from cultureclip.cli import main

    run_dir = write_run(tmp_path / "run")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_500)  # the fixture's images are 32x32 = 1,024 pixels
    (run_dir / "images" / "k04-c2.png").write_bytes(encoded(Image.fromarray(noise(128, 128))))
    assert main(["build-dataset", str(run_dir), "--output-dir", str(tmp_path / "refused")]) == 2
    err = capsys.readouterr().err
    assert "images/k04-c2.png (caption k04-c2): does not decode (DecompressionBombError" in err
    assert "Traceback" not in err
    args = ["build-dataset", str(run_dir), "--output-dir", str(tmp_path / "out"), "--drop-bad-images"]
    assert main([*args, "--validation-size", "0.1", "--test-size", "1"]) == 0
    assert "dropped 1 bad image(s)" in capsys.readouterr().out
