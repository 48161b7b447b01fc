"""Building the release folders and uploading them (through a recording fake of ``HfApi``)."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
from types import SimpleNamespace

import pytest

from cultureclip.cards import read_training_record
from cultureclip.cli import main as cli
from cultureclip.evaluation import load_results
from cultureclip.hub import (
    PublishError,
    build_dataset_repo,
    build_model_repo,
    push_dataset_to_hub,
    push_model_to_hub,
    push_to_hub,
)
from cultureclip.output_dirs import MARKER

SECRET = "hf_thisIsNotARealTokenButMustNeverLeak"
# The run trained the local tiny CLIP on a local release folder; the card names Hub ids.
IDS = {"base_model_id": "org/tiny-clip", "dataset_id": "org/cultwin"}
CLI_IDS = ["--base-model-id", "org/tiny-clip", "--dataset-id", "org/cultwin"]
# eval_dir measured GlobalRG-Retrieval on a local copy; CulTwin (also local) is named by dataset_id.
EVAL_IDS = {"eval_dataset_ids": {"globalrg-retrieval": "UBC-VL/GlobalRG-Retrieval"}}
CLI_EVAL_IDS = ["--eval-dataset-id", "globalrg-retrieval=UBC-VL/GlobalRG-Retrieval"]


class FakeHfApi:
    """Records the calls the publishing code makes; ``fail`` makes every commit fail, or (a repo
    id) the commits to that repository."""

    calls: list = []
    fail: bool | str = False

    def __init__(self, fail: bool | str | None = None):
        if fail is not None:
            self.fail = fail

    def create_repo(self, repo_id, **options):
        self.calls.append(("create_repo", repo_id, options))
        return f"https://huggingface.co/{repo_id}"

    def create_branch(self, repo_id, **options):
        self.calls.append(("create_branch", repo_id, options))

    def upload_folder(self, *, repo_id, folder_path, **options):
        ignored = options.get("ignore_patterns") or []  # as huggingface_hub filters them
        files = sorted(
            str(p.relative_to(folder_path))
            for p in folder_path.rglob("*")
            if p.is_file() and not any(fnmatch.fnmatch(str(p.relative_to(folder_path)), i) for i in ignored)
        )
        self.calls.append(("upload_folder", repo_id, {**options, "files": files}))
        if self.fail in (True, repo_id):
            raise ConnectionError("503 Service Unavailable")
        pr = f"https://huggingface.co/{repo_id}/discussions/1" if options.get("create_pr") else None
        return SimpleNamespace(commit_url=f"https://huggingface.co/{repo_id}/commit/abc123", oid="abc123", pr_url=pr)


@pytest.fixture
def fake_api(monkeypatch):
    FakeHfApi.calls = []
    monkeypatch.setattr("huggingface_hub.HfApi", FakeHfApi)
    monkeypatch.setenv("HF_TOKEN", SECRET)
    return FakeHfApi


@pytest.fixture
def tokenizer(tiny_models):
    """The tiny CLIP's tokenizer, for the caption-length check of the release."""
    return str(tiny_models["clip"])


@pytest.fixture
def broken_checkpoint(training_output, tmp_path):
    """A writable copy of the training output, to damage."""
    return shutil.copytree(training_output, tmp_path / "training_output")


def test_model_repo_holds_the_merged_model_adapter_card_and_plots(training_output, eval_dir, tmp_path):
    from huggingface_hub import ModelCard
    from transformers import CLIPModel

    release = build_model_repo(
        training_output, "org/cultureclip", tmp_path / "out", eval_dir=eval_dir, **IDS, **EVAL_IDS
    )
    model_dir = release.model.path
    assert release.adapter is None and release.skipped == []
    assert {"README.md", "config.json", "model.safetensors", "processor_config.json", "training_record.json"} <= set(
        release.model.files
    )
    assert {"adapter/adapter_config.json", "adapter/adapter_model.safetensors", "plots/summary.png"} <= set(
        release.model.files
    )
    assert "adapter/README.md" not in release.model.files  # peft's placeholder card stays out
    merged = CLIPModel.from_pretrained(training_output / "merged").state_dict()
    published = CLIPModel.from_pretrained(model_dir).state_dict()
    assert all((merged[name] == published[name]).all() for name in merged)

    card = ModelCard.load(model_dir / "README.md")
    assert card.data.library_name == "transformers"
    assert card.data.pipeline_tag == "zero-shot-image-classification"
    assert card.data.base_model == "org/tiny-clip"
    assert card.data.datasets == ["org/cultwin"]
    assert "lora" in card.data.tags
    results = load_results(eval_dir)
    scores = {(r.dataset_name, r.metric_name): r.metric_value for r in card.data.eval_results}
    datasets = {r.dataset_name: r.dataset_type for r in card.data.eval_results}
    assert datasets == {"GlobalRG-Retrieval": "UBC-VL/GlobalRG-Retrieval", "CulTwin": "org/cultwin"}
    assert scores[("GlobalRG-Retrieval", "accuracy")] == round(results.model["globalrg-retrieval"].accuracy, 4)
    assert scores[("CulTwin", "caption_accuracy")] == round(results.model["cultwin"].metrics["caption_accuracy"], 4)
    assert ("CulTwin", "accuracy") not in scores  # the same number as concept_accuracy, listed once
    text = card.text
    for name, display in (("globalrg-retrieval", "GlobalRG-Retrieval"), ("cultwin", "CulTwin")):
        assert results.model[name].dataset.id.startswith("/")  # measured on local folders
        model, base = results.model[name], results.baseline[name]
        assert (
            f"| {display} | `{datasets[display]}` | {100 * model.accuracy:.2f}% "
            f"({model.correct}/{model.total}) | {100 * base.accuracy:.2f}% | "
            f"{100 * (model.accuracy - base.accuracy):+.2f} |"
        ) in text
    record = read_training_record(training_output)
    assert "| batch (per device x accumulation x devices) | 8 x 1 x 1 = 8 |" in text  # configs/tiny.yaml
    assert "| LoRA rank / alpha / dropout | 4 / 16 / 0.1 |" in text
    assert "| training steps | 2 |" in text
    assert f"{record.dataset.train_rows} rows (`datasets` fingerprint `{record.dataset.fingerprint}`)" in text
    assert f"| train_loss | {record.metrics['train_loss']} |" in text
    assert f"transformers {record.libraries['transformers']}" in text
    assert "![plots/summary.png](plots/summary.png)" in text
    assert 'CLIPModel.from_pretrained("org/cultureclip")' in text
    assert 'pipeline("zero-shot-image-classification", model="org/cultureclip")' in text
    assert "author  = {Huang and Fan and He and Polisetty and Li and Fung}" in text
    assert "adapter/` folder of this repository" in text


def test_adapter_in_its_own_repository(training_output, tmp_path):
    from huggingface_hub import ModelCard

    release = build_model_repo(
        training_output,
        "org/cultureclip",
        tmp_path / "out",
        adapter="repo",
        adapter_repo_id="org/cultureclip-lora",
        **IDS,
    )
    assert [folder.repo_id for folder in release.folders] == ["org/cultureclip-lora", "org/cultureclip"]
    assert not any(name.startswith("adapter/") for name in release.model.files)
    assert release.adapter.files == ["README.md", "adapter_config.json", "adapter_model.safetensors"]
    adapter_card = ModelCard.load(release.adapter.path / "README.md")
    assert adapter_card.data.library_name == "peft"
    assert adapter_card.data.base_model == "org/tiny-clip"
    assert 'PeftModel.from_pretrained(base, "org/cultureclip-lora")' in adapter_card.text
    assert (
        "[`org/cultureclip-lora`](https://huggingface.co/org/cultureclip-lora)"
        in (release.model.path / "README.md").read_text()
    )
    assert "without evaluation results" in (release.model.path / "README.md").read_text()


def test_missing_record_key_is_named(broken_checkpoint):
    path = broken_checkpoint / "training_record.json"
    record = json.loads(path.read_text())
    del record["training"]["lambda_concept"], record["dataset"]["fingerprint"]
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="lacks dataset.fingerprint"):
        read_training_record(broken_checkpoint)
    record["dataset"]["fingerprint"] = "abc"
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="lacks training.lambda_concept"):
        read_training_record(broken_checkpoint)
    del record["metrics"]
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="lacks metrics"):
        read_training_record(broken_checkpoint)


def test_pickles_are_never_published(broken_checkpoint, tmp_path):
    (broken_checkpoint / "merged" / "training_args.bin").write_bytes(b"pickle")
    release = build_model_repo(broken_checkpoint, "org/cultureclip", tmp_path / "out", **IDS)
    assert release.skipped == ["merged/training_args.bin"]
    assert "training_args.bin" not in release.model.files
    (broken_checkpoint / "merged" / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="no .safetensors weights"):
        build_model_repo(broken_checkpoint, "org/cultureclip", tmp_path / "again", **IDS)


def test_checkpoint_problems_are_explained(broken_checkpoint, tmp_path):
    with pytest.raises(ValueError, match="is a local path, not a Hub repo id(.|\n)*Pass --base-model-id org/name"):
        build_model_repo(broken_checkpoint, "org/x", tmp_path / "a")
    with pytest.raises(ValueError, match="Pass --dataset-id org/name"):
        build_model_repo(broken_checkpoint, "org/x", tmp_path / "a", base_model_id="org/tiny-clip")
    assert not (tmp_path / "a").exists()  # nothing is written before the inputs are known to be good
    (broken_checkpoint / "merged" / "processor_config.json").unlink()
    with pytest.raises(FileNotFoundError, match="save the CLIPProcessor"):
        build_model_repo(broken_checkpoint, "org/x", tmp_path / "b", **IDS)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_model_repo(tmp_path / "nowhere", "org/x", tmp_path / "c")


def test_full_fine_tuning_publishes_without_adapter(broken_checkpoint, tmp_path):
    from huggingface_hub import ModelCard

    shutil.rmtree(broken_checkpoint / "adapter")
    record = json.loads((broken_checkpoint / "training_record.json").read_text())
    record["training"].update(finetuning="full", max_steps=500)
    (broken_checkpoint / "training_record.json").write_text(json.dumps(record))
    with pytest.raises(FileNotFoundError, match="--adapter none"):
        build_model_repo(broken_checkpoint, "org/x", tmp_path / "a", **IDS)
    release = build_model_repo(broken_checkpoint, "org/x", tmp_path / "b", adapter="none", **IDS)
    assert not any(name.startswith("adapter") for name in release.model.files)
    card = ModelCard.load(release.model.path / "README.md")
    assert "lora" not in card.data.tags
    assert "All weights were fine-tuned" in card.text and "LoRA rank" not in card.text
    assert "| training steps | 500 |" in card.text


def test_output_folder_is_never_clobbered_silently(training_output, tmp_path):
    out = tmp_path / "out"
    (out / "model").mkdir(parents=True)
    (out / "model" / "stale.txt").write_text("old")
    with pytest.raises(ValueError, match="--overwrite"):
        build_model_repo(training_output, "org/x", out, **IDS)
    # issue 14.2: --overwrite never deletes a folder cultureclip did not write
    with pytest.raises(ValueError, match="was not written by cultureclip"):
        build_model_repo(training_output, "org/x", out, overwrite=True, **IDS)
    assert (out / "model" / "stale.txt").read_text() == "old"
    (out / "model" / "stale.txt").unlink()
    (out / "model").rmdir()
    build_model_repo(training_output, "org/x", out, **IDS)  # empty: fine
    (out / "model" / "stale.txt").write_text("old")
    release = build_model_repo(training_output, "org/x", out, overwrite=True, **IDS)  # its own: replaced
    assert "stale.txt" not in release.model.files and MARKER not in release.model.files


def test_dataset_release_is_validated_before_upload(release_dir, tokenizer, tmp_path):
    folder = build_dataset_repo(release_dir, "org/cultwin", tokenizer)
    assert folder.path == release_dir and folder.repo_type == "dataset"
    assert {"README.md", "preview.png", "pairs/train-00000-of-00001.parquet"} <= set(folder.files)

    broken = shutil.copytree(release_dir, tmp_path / "broken")
    card = (broken / "README.md").read_text()
    (broken / "README.md").write_text(card.replace("concepts/train-*", "concepts/all-*"))
    with pytest.raises(
        ValueError, match=r"nothing to publish(.|\n)*no file matches 'concepts/all-\*.parquet'"
    ) as error:
        build_dataset_repo(broken, "org/cultwin", tokenizer)
    assert "reference" not in str(error.value)  # not one problem per pair whose concepts were not read
    (broken / "README.md").unlink()
    with pytest.raises(ValueError, match="README.md: missing"):
        build_dataset_repo(broken, "org/cultwin", tokenizer)


def test_dataset_card_must_load_the_repository_it_is_published_to(release_dir, tokenizer, capsys):
    """The release was built for org/cultwin (build-dataset --repo-id): published as myorg/cultwin,
    its card would tell users to load org/cultwin."""
    assert 'load_dataset("org/cultwin", split="train")' in (release_dir / "README.md").read_text()
    with pytest.raises(ValueError, match=r"load_dataset\('org/cultwin'\), but it would be published to myorg/cultwin"):
        build_dataset_repo(release_dir, "myorg/cultwin", tokenizer)
    argv = ["publish", "dataset", "--release-dir", str(release_dir), "--repo-id", "myorg/cultwin"]
    assert cli([*argv, "--tokenizer", tokenizer, "--dry-run"]) == 2
    assert "build-dataset RUN_DIR --output-dir NEW_DIR --repo-id myorg/cultwin" in capsys.readouterr().err


def test_push_is_one_commit_with_the_options(fake_api, release_dir, tokenizer):
    result = push_dataset_to_hub(
        release_dir, "org/cultwin", tokenizer, private=True, revision="v1", create_pr=True, commit_message="CulTwin v1"
    )
    assert [call[0] for call in fake_api.calls] == ["create_repo", "create_branch", "upload_folder"]
    assert fake_api.calls[0][2] == {"repo_type": "dataset", "private": True, "exist_ok": True}
    upload = fake_api.calls[2][2]
    assert upload["revision"] == "v1" and upload["create_pr"] is True
    assert upload["commit_message"] == "CulTwin v1"
    assert upload["files"] == build_dataset_repo(release_dir, "org/cultwin", tokenizer).files
    assert "token" not in upload
    assert result.pr_url == "https://huggingface.co/org/cultwin/discussions/1"


def test_push_model_pushes_adapter_repo_then_model(fake_api, training_output, tmp_path):
    results = push_model_to_hub(
        training_output,
        "org/cultureclip",
        tmp_path / "out",
        adapter="repo",
        adapter_repo_id="org/cultureclip-lora",
        **IDS,
    )
    uploads = [call for call in fake_api.calls if call[0] == "upload_folder"]
    assert [call[1] for call in uploads] == ["org/cultureclip-lora", "org/cultureclip"]
    assert [result.repo_id for result in results] == ["org/cultureclip-lora", "org/cultureclip"]
    assert uploads[1][2]["commit_message"] == "Upload cultureclip with cultureclip"


def test_failed_adapter_push_leaves_the_model_unpushed(fake_api, training_output, tmp_path):
    options = {"adapter": "repo", "adapter_repo_id": "org/cultureclip-lora", **IDS}
    with pytest.raises(PublishError) as error:
        push_model_to_hub(
            training_output, "org/cultureclip", tmp_path / "out", api=FakeHfApi(fail="org/cultureclip-lora"), **options
        )
    assert "Nothing was committed to org/cultureclip-lora" in str(error.value)
    assert "Committed before this failure: none. Not pushed yet: org/cultureclip." in str(error.value)
    assert [call[1] for call in fake_api.calls if call[0] == "upload_folder"] == ["org/cultureclip-lora"]


def test_failed_push_says_nothing_was_committed_and_how_to_retry(fake_api, release_dir, tokenizer):
    with pytest.raises(PublishError) as error:
        push_to_hub(build_dataset_repo(release_dir, "org/cultwin", tokenizer), api=FakeHfApi(fail=True))
    message = str(error.value)
    assert "503 Service Unavailable" in message
    assert "Nothing was committed" in message
    assert f"hf upload org/cultwin {release_dir} . --repo-type dataset" in message
    assert SECRET not in message


def test_cli_dry_run_uploads_nothing(fake_api, training_output, eval_dir, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["publish", "model", "--checkpoint", str(training_output), "--repo-id", "org/cultureclip", *CLI_IDS]
    assert cli([*argv, *CLI_EVAL_IDS, "--eval-dir", str(eval_dir), "--output-dir", str(out), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    files = [p for p in (out / "model").rglob("*") if p.is_file()]
    assert f"model repository org/cultureclip: {len(files)} files in {out / 'model'}" in printed
    assert (out / "model" / "plots" / "summary.png").is_file()
    assert "Dry run: nothing uploaded" in printed
    assert fake_api.calls == []


def test_cli_failed_upload_prints_the_retry_command_and_never_the_token(
    fake_api, training_output, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "out"
    argv = ["model", "--checkpoint", str(training_output), "--repo-id", "org/cultureclip", *CLI_IDS]
    argv += ["--output-dir", str(out)]
    monkeypatch.setattr(fake_api, "fail", True)  # every HfApi() the command makes fails its commit
    assert cli(["publish", *argv]) == 1
    captured = capsys.readouterr()
    assert "Nothing was committed" in captured.err
    assert f"Retry: cultureclip publish model --checkpoint {training_output}" in captured.err
    assert captured.err.rstrip().endswith("--overwrite")
    assert len([call for call in fake_api.calls if call[0] == "upload_folder"]) == 1
    written = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert SECRET not in captured.out + captured.err and SECRET.encode() not in written


def test_cli_adapter_repository_is_reported_committed_when_the_model_push_fails(
    fake_api, training_output, tmp_path, capsys, monkeypatch
):
    argv = ["publish", "model", "--checkpoint", str(training_output), "--repo-id", "org/cultureclip", *CLI_IDS]
    argv += ["--adapter-repo-id", "org/cultureclip-lora", "--output-dir", str(tmp_path / "out")]
    monkeypatch.setattr(fake_api, "fail", "org/cultureclip")  # the adapter's commit succeeds, the model's fails
    assert cli(argv) == 1
    err = capsys.readouterr().err
    assert [call[1] for call in fake_api.calls if call[0] == "upload_folder"] == [
        "org/cultureclip-lora",
        "org/cultureclip",
    ]
    assert "Nothing was committed to org/cultureclip (the upload is a single commit)" in err
    assert (
        "Committed before this failure: org/cultureclip-lora (https://huggingface.co/org/cultureclip-lora/commit/abc123)."
        " Not pushed yet: none." in err
    )

    monkeypatch.setattr(fake_api, "fail", False)
    assert cli([*argv, "--overwrite"]) == 0
    printed = capsys.readouterr().out
    assert (
        'users load it with PeftModel.from_pretrained(CLIPModel.from_pretrained("org/tiny-clip"), '
        '"org/cultureclip-lora")' in printed
    )
    assert 'users load it with CLIPModel.from_pretrained("org/cultureclip")' in printed
    assert 'CLIPModel.from_pretrained("org/cultureclip-lora")' not in printed


def test_cli_publishes_dataset(fake_api, release_dir, tokenizer, capsys):
    argv = ["publish", "dataset", "--release-dir", str(release_dir), "--repo-id", "org/cultwin"]
    assert cli([*argv, "--tokenizer", tokenizer]) == 0
    printed = capsys.readouterr().out
    assert (
        "published dataset repository org/cultwin: commit https://huggingface.co/org/cultwin/commit/abc123" in printed
    )
    assert 'users load it with load_dataset("org/cultwin")' in printed


def test_cli_reports_bad_input_without_traceback(tmp_path, tokenizer, capsys):
    argv = ["publish", "dataset", "--release-dir", str(tmp_path), "--repo-id", "org/cultwin"]
    assert cli([*argv, "--tokenizer", tokenizer]) == 2
    assert "cultureclip publish:" in capsys.readouterr().err


def test_real_client_failure_keeps_the_token_secret(release_dir, tokenizer):
    """The real ``HfApi`` against a closed port: the error is explained and holds no token."""
    import socket

    from huggingface_hub import HfApi

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = HfApi(endpoint=f"http://127.0.0.1:{port}", token=SECRET)
    with pytest.raises(PublishError, match="Nothing was committed") as error:
        push_to_hub(build_dataset_repo(release_dir, "org/cultwin", tokenizer), api=api)
    assert SECRET not in str(error.value)


def test_results_without_a_baseline(training_output, eval_dir, tmp_path):
    evals = shutil.copytree(eval_dir, tmp_path / "eval")
    shutil.rmtree(evals / "baseline")
    summary = json.loads((evals / "summary.json").read_text())
    summary["baseline"] = None
    for row in summary["rows"]:
        row.update(baseline=None, delta=None)
    (evals / "summary.json").write_text(json.dumps(summary))
    release = build_model_repo(training_output, "org/cultureclip", tmp_path / "out", eval_dir=evals, **IDS, **EVAL_IDS)
    text = (release.model.path / "README.md").read_text()
    assert text.count("| not evaluated |  |") == 2


def test_local_evaluation_data_is_never_published_as_a_dataset_id(training_output, eval_dir, tmp_path, capsys):
    """The card names evaluation data by Hub id: CulTwin's local release by the training dataset's
    id; another benchmark's local folder needs --eval-dataset-id, or the build is refused."""
    from huggingface_hub import ModelCard

    local = load_results(eval_dir).model["globalrg-retrieval"].dataset.id
    with pytest.raises(
        ValueError,
        match=rf"GlobalRG-Retrieval was evaluated on {re.escape(local)}. Pass --eval-dataset-id globalrg-retrieval=ORG/NAME",
    ):
        build_model_repo(training_output, "org/x", tmp_path / "a", eval_dir=eval_dir, **IDS)
    assert not (tmp_path / "a").exists()
    with pytest.raises(ValueError, match="--eval-dataset-id crope: the evaluation folder has no result of it"):
        ids = {"globalrg-retrieval": "UBC-VL/GlobalRG-Retrieval", "crope": "Malvinan/CROPE"}
        build_model_repo(training_output, "org/x", tmp_path / "a", eval_dir=eval_dir, eval_dataset_ids=ids, **IDS)
    with pytest.raises(ValueError, match="globalrg-retrieval=/data/globalrg is not a Hub id"):
        ids = {"globalrg-retrieval": "/data/globalrg"}
        build_model_repo(training_output, "org/x", tmp_path / "a", eval_dir=eval_dir, eval_dataset_ids=ids, **IDS)

    argv = ["publish", "model", "--checkpoint", str(training_output), "--repo-id", "org/x", *CLI_IDS]
    assert cli([*argv, "--eval-dir", str(eval_dir), "--output-dir", str(tmp_path / "b"), "--dry-run"]) == 2
    assert "--eval-dataset-id globalrg-retrieval=ORG/NAME" in capsys.readouterr().err
    argv += [*CLI_EVAL_IDS, "--eval-dataset-id", "cultwin=org/cultwin-eval"]
    assert cli([*argv, "--eval-dir", str(eval_dir), "--output-dir", str(tmp_path / "b"), "--dry-run"]) == 0
    card = ModelCard.load(tmp_path / "b" / "model" / "README.md")
    assert {r.dataset_name: r.dataset_type for r in card.data.eval_results} == {
        "GlobalRG-Retrieval": "UBC-VL/GlobalRG-Retrieval",
        "CulTwin": "org/cultwin-eval",
    }
    assert "| CulTwin | `org/cultwin-eval` |" in card.text
    assert not any(result.dataset.id in card.content for result in load_results(eval_dir).model.values())


def test_results_of_another_model_are_refused(broken_checkpoint, eval_dir, tmp_path, capsys):
    """Another training run (here: the same run with changed weights) cannot borrow eval_dir's scores."""
    import torch
    from transformers import CLIPModel

    merged = broken_checkpoint / "merged"
    model = CLIPModel.from_pretrained(merged)
    with torch.no_grad():
        model.text_projection.weight.add_(0.01)
    model.save_pretrained(merged)
    with pytest.raises(ValueError, match=rf"holds results of another model than {re.escape(str(merged))}"):
        build_model_repo(broken_checkpoint, "org/x", tmp_path / "a", eval_dir=eval_dir, **IDS, **EVAL_IDS)
    assert not (tmp_path / "a").exists()

    argv = ["publish", "model", "--checkpoint", str(broken_checkpoint), "--repo-id", "org/x", *CLI_IDS, *CLI_EVAL_IDS]
    assert cli([*argv, "--eval-dir", str(eval_dir), "--output-dir", str(tmp_path / "b"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    evaluated = load_results(eval_dir).model["cultwin"].model.name_or_path
    assert f"cultwin scored {evaluated}" in err and f"cultureclip evaluate --model {merged}" in err


def test_the_model_repository_names_no_local_folder(training_output, eval_dir, tiny_models, tmp_path):
    """The card, the published training record, the adapter config and the plots name the base model
    and the data by Hub id: none of the folders the run read or wrote appears in a published file."""
    from huggingface_hub import ModelCard

    release = build_model_repo(
        training_output, "org/cultureclip", tmp_path / "hub", eval_dir=eval_dir, **IDS, **EVAL_IDS
    )
    local = [str(training_output), str(eval_dir), str(tiny_models["clip"]), str(tiny_models["clip"].parent)]
    texts = {
        name: (release.model.path / name).read_text()
        for name in release.model.files
        if name.endswith((".json", ".md"))
    }
    assert {"README.md", "training_record.json", "adapter/adapter_config.json"} <= set(texts)
    assert not [(name, path) for name, text in texts.items() for path in local if path in text]
    assert read_training_record(release.model.path).base_model == "org/tiny-clip"
    assert json.loads(texts["adapter/adapter_config.json"])["base_model_name_or_path"] == "org/tiny-clip"
    values = [result.metric_value for result in ModelCard.load(release.model.path / "README.md").data.eval_results]
    assert values and all(value == round(value, 4) for value in values)
