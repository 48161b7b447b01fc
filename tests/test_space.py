"""The demo Space: its Hub folder, its numbers against transformers computed directly, and the app
driven in a real (headless Chromium) browser."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from importlib.metadata import version
from pathlib import Path

import pytest
from PIL import Image

from cultureclip.publish import main as publish_main

ROOT = Path(__file__).parents[1]
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
needs_browser = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="headless Chromium and its driver are not installed (apt-get install chromium chromium-driver; "
    ".ci/run installs them)",
)


def _app():
    """``space/app.py`` as a module (the Space runs it as a script, beside no package)."""
    if "space_app" not in sys.modules:
        spec = importlib.util.spec_from_file_location("space_app", ROOT / "space" / "app.py")
        sys.modules["space_app"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["space_app"])
    return sys.modules["space_app"]


def _local_env(out: Path) -> dict[str, str]:
    """The Space on the demo's local artifacts, offline."""
    return {
        "CULTURECLIP_MODEL": str(out / "hub" / "model"),
        "CULTURECLIP_BASELINE": str(out / "hub" / "base"),
        "CULTURECLIP_DATASET": str(out / "cultwin"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }


def _pipeline_scores(model_dir: Path, image: Image.Image, labels) -> dict[str, float]:
    from transformers import pipeline

    scores = pipeline("zero-shot-image-classification", model=str(model_dir))(image, candidate_labels=list(labels))
    return {s["label"]: s["score"] for s in scores}


def test_space_folder_has_the_hub_metadata_and_pinned_requirements(demo_output):
    out, _, calls = demo_output
    space = out / "hub" / "space"
    card = (space / "README.md").read_text()
    for line in (
        "sdk: gradio",
        f"sdk_version: {version('gradio')}",
        "app_file: app.py",
        "- my-org/cultureclip",
        "- my-org/tiny-random-clip",
        "- my-org/cultwin",
    ):
        assert line in card.split("---")[1], line
    pins = (space / "requirements.txt").read_text().split()
    assert f"gradio=={version('gradio')}" in pins and f"transformers=={version('transformers')}" in pins
    assert all("==" in pin and "+" not in pin for pin in pins)
    assert (space / "app.py").read_bytes() == (ROOT / "space" / "app.py").read_bytes()
    config = json.loads((space / "space_config.json").read_text())
    assert config == {
        "model": "my-org/cultureclip",
        "baseline": "my-org/tiny-random-clip",
        "dataset": "my-org/cultwin",
        "split": "test",
    }
    created = [options for call, repo, options in calls if call == "create_repo" and repo == "my-org/cultureclip-demo"]
    assert created == [{"repo_type": "space", "private": None, "exist_ok": True, "space_sdk": "gradio"}]


def test_the_model_and_dataset_cards_link_to_the_space(demo_output):
    out, _, _ = demo_output
    link = "(https://huggingface.co/spaces/my-org/cultureclip-demo)"
    assert link in (out / "hub" / "model" / "README.md").read_text()
    assert link in (out / "cultwin" / "README.md").read_text()


def test_publish_space_dry_run_builds_and_bad_ids_are_refused(tmp_path, capsys):
    argv = ["space", "--repo-id", "org/cultureclip-demo", "--dataset-repo", "org/cultwin", "--dry-run"]
    assert publish_main([*argv, "--model-repo", "org/cultureclip", "--output-dir", str(tmp_path / "ok")]) == 0
    assert "space repository org/cultureclip-demo: 4 files" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        publish_main([*argv, "--model-repo", "runs/train/merged", "--output-dir", str(tmp_path / "bad")])
    error = capsys.readouterr().err
    assert exit_.value.code == 2 and len(error.strip().splitlines()) == 1
    assert "argument --model-repo: 'runs/train/merged' is not a Hub repo id" in error
    assert not (tmp_path / "bad").exists()


def test_space_config_needs_what_it_serves(tmp_path):
    app = _app()
    with pytest.raises(ValueError, match="No model, baseline, dataset to serve: set CULTURECLIP_MODEL"):
        app.SpaceConfig.load(tmp_path / "none.json", environ={})
    (tmp_path / "c.json").write_text(json.dumps({"model": "a/b", "modle": "x"}))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['modle'\]"):
        app.SpaceConfig.load(tmp_path / "c.json", environ={})
    (tmp_path / "c.json").write_text(json.dumps({"model": "a/b", "baseline": "c/d", "dataset": "e/f"}))
    config = app.SpaceConfig.load(tmp_path / "c.json", environ={"CULTURECLIP_MODEL": "/local/model"})
    assert (config.model, config.baseline, config.split) == ("/local/model", "c/d", "test")


def test_the_space_computes_what_transformers_computes(demo_output, monkeypatch):
    out, _, _ = demo_output
    for key, value in _local_env(out).items():
        monkeypatch.setenv(key, value)
    app = _app()
    demo = app.Demo(app.SpaceConfig.load(Path("/nonexistent.json")))
    image, key = demo.example(demo.examples[0][0])
    base, tuned, note = demo.compare(image, key, app.ALL_CATEGORIES, "")
    concept = demo.concepts[key.split("/")[0]]
    assert f"True concept: {concept['concept']}" in note and f"Its twin: **{concept['twin_concept']}**" in note
    for scores, model_dir in ((base, out / "hub" / "base"), (tuned, out / "hub" / "model")):
        expected = _pipeline_scores(model_dir, image, scores)
        assert scores == pytest.approx(expected, abs=1e-5)
    typed = demo.compare(image.copy(), None, app.ALL_CATEGORIES, "dumpling, violin, dumpling")[1]
    assert list(typed) == ["dumpling", "violin"]
    pair = demo.pairs[0]
    labels = (pair.a["concept"], pair.b["concept"])
    hits = [
        max((scores := _pipeline_scores(out / "hub" / "model", image, labels)), key=scores.get) == side["concept"]
        for side in (pair.a, pair.b)
        for image in side["images"]
    ]
    assert pair.accuracy["CultureCLIP"] == sum(hits) / len(hits)
    rows, plots = demo.results()
    assert rows and all(row[0] == "CulTwin" for row in rows) and any(p.endswith("summary.png") for p in plots)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(command: list[str], env: dict[str, str], cwd: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = os.environ | env | {"GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the app exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=5)
            return process, url
        except OSError:
            time.sleep(1)
    process.kill()
    raise AssertionError(f"the app did not answer at {url} within 240 s:\n{log.read_text()[-3000:]}")


def _meters(driver, element_id: str) -> dict[str, float]:
    from selenium.webdriver.common.by import By

    meters = driver.find_elements(By.CSS_SELECTOR, f"#{element_id} meter")
    return {m.get_attribute("aria-label"): float(m.get_attribute("value")) for m in meters}


@pytest.mark.slow
@needs_browser
def test_the_space_in_a_real_browser(demo_output, tmp_path):
    """Upload an image, compare, open the Twins tab; what the page shows is what transformers computes."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    out, _, _ = demo_output
    space = out / "hub" / "space"
    process, url = _serve([sys.executable, "app.py"], _local_env(out), space, tmp_path / "app.log")
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    wait = WebDriverWait(driver, 120)
    try:
        driver.get(url)
        upload = wait.until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#image input[type=file]"))
        )
        _first_test_image(out).save(tmp_path / "upload.png")
        upload.send_keys(str(tmp_path / "upload.png"))
        wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#image img")))
        driver.find_element(By.ID, "compare").click()
        wait.until(lambda d: _meters(d, "model-result") and _meters(d, "baseline-result"))
        labels = _test_concepts(out)
        for element_id, model_dir in (
            ("baseline-result", out / "hub" / "base"),
            ("model-result", out / "hub" / "model"),
        ):
            shown = _meters(driver, element_id)
            expected = _pipeline_scores(model_dir, Image.open(tmp_path / "upload.png"), labels)
            top = sorted(expected, key=expected.get, reverse=True)[: len(shown)]
            assert list(shown) == top
            assert shown == pytest.approx({label: expected[label] for label in top}, abs=1e-4)
        assert "An uploaded image" in driver.find_element(By.ID, "note").text
        driver.save_screenshot(str(tmp_path / "compare.png"))

        driver.find_element(By.XPATH, "//button[@role='tab' and normalize-space()='Twins']").click()
        table = wait.until(expected_conditions.visibility_of_element_located((By.ID, "twins")))
        wait.until(lambda d: "twin accuracy" in table.text)
        rows = [row.text for row in table.find_elements(By.CSS_SELECTOR, "[role=row]")[1:]]
        app = _app()
        demo = app.Demo(app.SpaceConfig(str(out / "hub" / "model"), str(out / "hub" / "base"), str(out / "cultwin")))
        assert len(rows) == len(demo.pairs)
        for pair in demo.pairs:
            labels = (pair.a["concept"], pair.b["concept"])
            images = [(side["concept"], image) for side in (pair.a, pair.b) for image in side["images"]]
            accuracies = []
            for model_dir in (out / "hub" / "base", out / "hub" / "model"):
                hits = [max(s := _pipeline_scores(model_dir, im, labels), key=s.get) == c for c, im in images]
                accuracies.append(f"{sum(hits) / len(hits):.0%}")
            (row,) = [row for row in rows if row.startswith(f"{pair.a['concept']} ({pair.a['country']})")]
            assert row.split()[-2:] == accuracies
        first = demo.pairs[0]
        name = f"{first.a['concept']} ({first.a['country']})"
        table.find_elements(By.XPATH, f".//*[@role='row']//*[normalize-space()='{name}']")[-1].click()
        shown = len(first.a["images"]) + len(first.b["images"])
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#pair-images img")) >= shown)
        assert first.a["context"][:40] in driver.find_element(By.ID, "pair-details").text
        driver.save_screenshot(str(tmp_path / "twins.png"))
        screenshots = os.environ.get("CULTURECLIP_SCREENSHOTS")
        if screenshots:
            for name in ("compare.png", "twins.png"):
                shutil.copy2(tmp_path / name, Path(screenshots) / f"space-{name}")
    finally:
        driver.quit()
        process.terminate()
        process.wait(timeout=30)


def _first_test_image(out: Path) -> Image.Image:
    from datasets import load_dataset

    return load_dataset(str(out / "cultwin"), "concepts", split="test")[0]["images"][0]


def _test_concepts(out: Path) -> list[str]:
    from datasets import load_dataset

    return list(dict.fromkeys(load_dataset(str(out / "cultwin"), "concepts", split="test")["concept"]))


@pytest.mark.slow
def test_the_published_folder_starts_in_a_fresh_venv_from_its_own_requirements(demo_output, tmp_path):
    out, _, _ = demo_output
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    space = out / "hub" / "space"
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "-r", "requirements.txt"],
        cwd=space,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert install.returncode == 0, install.stderr[-3000:]
    env = _local_env(out) | {"PYTHONPATH": ""}
    process, url = _serve([str(python), "app.py"], env, space, tmp_path / "app.log")
    try:
        page = urllib.request.urlopen(url, timeout=30).read().decode()
        assert "gradio" in page.lower()
    finally:
        process.terminate()
        process.wait(timeout=30)
