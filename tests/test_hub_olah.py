"""The release works for users: the built repository folders, served by a real Hub-protocol server.

``olah`` (a Hub mirror) serves the two folders as git repositories on 127.0.0.1; fresh Python
processes that import no project code load them by repo id through ``HF_ENDPOINT``, the way a
user does after ``cultureclip publish``. olah pins an old psutil, so it lives in its own virtual
environment (``$CULTURECLIP_OLAH_VENV``, default ``~/.cache/cultureclip/olah-venv``; ``.ci/run``
creates it, and this test does if it is missing).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from cultureclip.hub import build_dataset_repo, build_model_repo

ROOT = Path(__file__).parents[1]
OLAH_VERSION = "0.5.4"
# The distribution's one import name, and the repository folders it maps (never importable as such).
PROJECT_PACKAGES = ("cultureclip", "modeling_cultureclip", "dataset_builder", "trainer", "evaluation")

# Run in a fresh process against the server. olah answers 401 instead of 404 for a file that is
# missing under a branch name (processor and pipeline loading probe optional files), which
# transformers reads as "no such repository"; under a commit sha it answers 404 like the Hub.
LOAD_THROUGH_THE_HUB = """
import hashlib, json, os, sys
from datasets import load_dataset
from huggingface_hub import DatasetCard, ModelCard, snapshot_download
from peft import PeftModel
from PIL import Image
from transformers import CLIPModel, CLIPProcessor, pipeline


def max_difference(a, b):
    b = b.state_dict()
    return max(float((value - b[name]).abs().max()) for name, value in a.state_dict().items())


sha = os.environ["MODEL_SHA"]
model = CLIPModel.from_pretrained("org/cultureclip")
processor = CLIPProcessor.from_pretrained("org/cultureclip", revision=sha)
classifier = pipeline("zero-shot-image-classification", model="org/cultureclip", revision=sha)
scores = classifier(Image.new("RGB", (32, 32), "red"), candidate_labels=["erhu", "guzheng"])
pairs = load_dataset("org/cultwin")
concepts = load_dataset("org/cultwin", "concepts")
model_card, dataset_card = ModelCard.load("org/cultureclip"), DatasetCard.load("org/cultwin")
snapshot_download("org/cultureclip")  # for the offline run of the card's snippets
base = CLIPModel.from_pretrained(os.environ["BASE_MODEL"])
base_vs_model = max_difference(base, model)  # before merging, which changes base in place
adapted = PeftModel.from_pretrained(base, "org/cultureclip", subfolder="adapter", revision=sha).merge_and_unload()
print(json.dumps({
    "parameter_sum": sum(float(p.detach().double().sum()) for p in model.parameters()),
    "adapter_vs_model": max_difference(adapted, model),
    "base_vs_model": base_vs_model,
    "processor": type(processor).__name__,
    "labels": sorted(score["label"] for score in scores),
    "pairs": {split: list(pairs[split]["pair_id"]) for split in pairs},
    "first_image": hashlib.sha256(concepts["train"][0]["images"][0].tobytes()).hexdigest(),
    "concepts": {split: concepts[split].num_rows for split in concepts},
    "model_card": [model_card.data.pipeline_tag, model_card.data.base_model],
    "dataset_card": [config["config_name"] for config in dataset_card.data.to_dict()["configs"]],
    "project_modules": sorted(name for name in sys.modules if name.split(".")[0] in PROJECT_PACKAGES),
}))
"""


@pytest.fixture(scope="session")
def olah_cli() -> Path:
    """The ``olah-cli`` of the olah virtual environment, created once if missing."""
    venv = Path(os.environ.get("CULTURECLIP_OLAH_VENV", Path.home() / ".cache" / "cultureclip" / "olah-venv"))
    cli = venv / "bin" / "olah-cli"
    if not cli.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        install = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", f"olah=={OLAH_VERSION}"], capture_output=True, text=True
        )
        if install.returncode != 0:
            pytest.fail(f"Could not install olah=={OLAH_VERSION} into {venv}:\n{install.stderr[-2000:]}")
    return cli


def serve_as_git(folder: Path, target: Path) -> str:
    """Copies ``folder`` to ``target`` as a one-commit git repository on ``main``; returns the commit sha."""
    shutil.copytree(folder, target)
    git = ["git", "-C", str(target), "-c", "user.name=cultureclip", "-c", "user.email=cultureclip@localhost"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "-c", "commit.gpgsign=false", "commit", "-q", "-m", "release"], check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()


@contextmanager
def olah_server(cli: Path, mirrors: Path, workdir: Path, timeout: float = 60.0):
    """Runs olah offline on a free local port, serving the git repositories under ``mirrors``."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = workdir / "olah.toml"
    config.write_text(
        f'[basic]\nhost = "127.0.0.1"\nport = {port}\nrepos-path = "{workdir / "cache"}"\n'
        f'mirror-netloc = "127.0.0.1:{port}"\nmirror-lfs-netloc = "127.0.0.1:{port}"\n'
        f'mirrors-path = ["{mirrors}"]\n\n[accessibility]\noffline = true\n'
    )
    log_path = workdir / "olah.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen([str(cli), "-c", str(config)], cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/models/org/cultureclip/revision/main", timeout=5)
                break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"olah did not start on {url}:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def run_fresh(code: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Runs ``code`` in a new interpreter, outside the repository (no project code importable)."""
    base = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "PYTHONPATH"))}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env={**base, **env}, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


@pytest.fixture(scope="module")
def hub(olah_cli, tiny_models, training_output, eval_dir, release_dir, tmp_path_factory):
    """Both release folders served as ``org/cultureclip`` and ``org/cultwin`` by olah.

    Yields ``{"url", "model_path", "model_sha", "dataset_sha", "env"}``; ``env`` is a fresh
    ``HF_HOME`` and telemetry off, for the processes that play the user.
    """
    root = tmp_path_factory.mktemp("hub")
    ids = {"base_model_id": "org/tiny-clip", "dataset_id": "org/cultwin"}  # training used local folders
    ids["eval_dataset_ids"] = {"globalrg-retrieval": "UBC-VL/GlobalRG-Retrieval"}  # evaluated on a local copy
    model = build_model_repo(training_output, "org/cultureclip", root / "build", eval_dir=eval_dir, **ids).model
    dataset = build_dataset_repo(release_dir, "org/cultwin", tokenizer=str(tiny_models["clip"]))
    mirrors = root / "mirrors"
    model_sha = serve_as_git(model.path, mirrors / "models" / "org" / "cultureclip")
    dataset_sha = serve_as_git(dataset.path, mirrors / "datasets" / "org" / "cultwin")
    env = {"HF_HOME": str(root / "hf-home"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    with olah_server(olah_cli, mirrors, root) as url:
        yield {"url": url, "model_path": model.path, "model_sha": model_sha, "dataset_sha": dataset_sha, "env": env}


def test_released_model_and_dataset_load_by_repo_id(hub, tiny_models, training_output, release_dir, tmp_path):
    import hashlib

    from datasets import load_dataset
    from PIL import Image
    from transformers import CLIPModel

    user = tmp_path / "user"
    user.mkdir()
    env = {**hub["env"], "MODEL_SHA": hub["model_sha"], "BASE_MODEL": str(tiny_models["clip"])}
    code = f"PROJECT_PACKAGES = {PROJECT_PACKAGES!r}\n{LOAD_THROUGH_THE_HUB}"
    loaded = json.loads(run_fresh(code, user, {**env, "HF_ENDPOINT": hub["url"]}).stdout.strip().splitlines()[-1])

    local = CLIPModel.from_pretrained(training_output / "merged")
    assert loaded["parameter_sum"] == pytest.approx(sum(float(p.detach().double().sum()) for p in local.parameters()))
    # The adapter/ subfolder is the published update: base + adapter = the published weights.
    assert loaded["adapter_vs_model"] < 1e-5 < 1e-4 < loaded["base_vs_model"]
    assert loaded["processor"] == "CLIPProcessor"
    assert loaded["labels"] == ["erhu", "guzheng"]
    local_cache = str(tmp_path / "datasets-cache")
    pairs = load_dataset(str(release_dir), cache_dir=local_cache)
    concepts = load_dataset(str(release_dir), "concepts", cache_dir=local_cache)
    assert loaded["pairs"] == {split: list(pairs[split]["pair_id"]) for split in pairs}
    assert loaded["first_image"] == hashlib.sha256(concepts["train"][0]["images"][0].tobytes()).hexdigest()
    assert loaded["concepts"] == {split: concepts[split].num_rows for split in concepts}
    assert loaded["model_card"] == ["zero-shot-image-classification", "org/tiny-clip"]
    assert loaded["dataset_card"] == ["pairs", "concepts"]
    assert loaded["project_modules"] == []

    # The card's usage snippets, verbatim, from the downloaded snapshot, in offline mode.
    snippets = re.findall(r"```python\n(.*?)```", (hub["model_path"] / "README.md").read_text(), flags=re.S)
    assert len(snippets) == 2
    Image.new("RGB", (32, 32), "blue").save(user / "your_image.jpg")
    printed = run_fresh("\n".join(snippets), user, {**env, "HF_HUB_OFFLINE": "1"}).stdout
    assert "a photo of mantou" in printed and "'label': 'sarangi'" in printed


def test_training_and_evaluation_read_hub_repos_and_record_their_commits(hub, tiny_models, tmp_path):
    """``cultureclip train`` on ``org/cultwin`` and ``cultureclip evaluate`` of ``org/cultureclip``,
    by repo id: each records the commit it read, not the branch it was given. (olah answers the
    revision API only with a revision named, so both name the branch.)"""
    env = {**os.environ, **hub["env"], "HF_ENDPOINT": hub["url"]}

    def cultureclip(*argv: str) -> None:
        command = [sys.executable, "-m", "cultureclip.cli", *argv]
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-4000:]

    cultureclip("train", "--config", str(ROOT / "configs" / "tiny.yaml"), "--max_steps", "1", "--dataset", "org/cultwin",
                "--dataset_revision", "main", "--base_model", str(tiny_models["clip"]),
                "--output_dir", str(tmp_path / "train"), "--disable_tqdm", "true")  # fmt: skip
    record = json.loads((tmp_path / "train" / "training_record.json").read_text())
    assert record["dataset"]["id"] == "org/cultwin" and record["dataset"]["revision"] == hub["dataset_sha"]
    assert record["base_model_revision"] is None  # a local folder

    cultureclip("evaluate", "--model", "org/cultureclip", "--model-revision", "main",
                "--benchmarks", "cultwin", "--dataset", "cultwin=org/cultwin", "--option", "cultwin.dataset_revision=main",
                "--output-dir", str(tmp_path / "eval"),
                "--no-cache", "--no-plots")  # fmt: skip
    result = json.loads((tmp_path / "eval" / "cultwin.json").read_text())
    assert result["model"]["name_or_path"] == "org/cultureclip" and result["model"]["revision"] == hub["model_sha"]
    assert result["dataset"]["id"] == "org/cultwin" and result["dataset"]["revision"] == hub["dataset_sha"]
    assert result["total"] > 0
