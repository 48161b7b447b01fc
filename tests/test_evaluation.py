"""`cultureclip.evaluation.evaluate` on the tiny CLIP: predictions, cache, bad inputs, every benchmark."""

import io
import re

import datasets
import eval_datasets
import pytest
import torch

from cultureclip.evaluation import evaluate, load_encoder


@pytest.fixture(scope="module")
def clip(tiny_models):
    from transformers import CLIPModel, CLIPProcessor

    path = str(tiny_models["clip"])
    return {
        "path": path,
        "model": CLIPModel.from_pretrained(path).eval(),
        "processor": CLIPProcessor.from_pretrained(path),
    }


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval-data")
    return {
        "globalrg-retrieval": eval_datasets.globalrg_retrieval(root / "globalrg-retrieval"),
        "globalrg-grounding": eval_datasets.globalrg_grounding(root / "globalrg-grounding"),
        "crope": eval_datasets.crope(root / "crope"),
        "cultwin": eval_datasets.cultwin(root / "cultwin"),
        "cultwin-sampled": eval_datasets.cultwin(root / "cultwin-sampled", sampled=True),
        "zeroshot": eval_datasets.zeroshot_parquet(root / "zeroshot"),
        "retrieval": eval_datasets.retrieval_imagefolder(root / "retrieval"),
    }


def clip_choice(clip, image, options) -> int:
    """What the public scripts compute: one forward pass of the image with all its options."""
    inputs = clip["processor"](text=options, images=image, return_tensors="pt", padding=True)
    with torch.inference_mode():
        return int(clip["model"](**inputs).logits_per_image.argmax())


def test_globalrg_retrieval_predicts_what_one_forward_pass_per_question_predicts(clip, data, tmp_path):
    result = evaluate(clip["path"], "globalrg-retrieval", str(data["globalrg-retrieval"]), cache_dir=tmp_path)
    images = eval_datasets.globalrg_retrieval_rows()["image"]
    assert result["total"] == len(result["items"]) == 18
    for item in result["items"]:
        assert item["predicted_idx"] == clip_choice(clip, images[item["fields"]["row"]], item["options"])
    correct = sum(item["predicted_idx"] == item["correct_idx"] for item in result["items"])
    assert result["correct"] == correct and result["accuracy"] == pytest.approx(correct / 18)
    assert sum(group["total"] for group in result["groups"]["region"].values()) == 18
    assert result["model"]["name_or_path"] == clip["path"] and len(result["model"]["fingerprint"]) == 64
    assert result["dataset"] == {
        "id": str(data["globalrg-retrieval"]),
        "config": None,
        "split": "test",
        "revision": None,
        "fingerprint": result["dataset"]["fingerprint"],
    }
    assert result["seed"] == 42 and result["skipped"] == 0 and result["unreadable_images"] == []


def test_rerun_reads_the_cache_and_use_cache_false_does_not(clip, data, tmp_path, monkeypatch):
    monkeypatch.setenv("CULTURECLIP_CACHE", str(tmp_path / "cache"))
    encoder = load_encoder(clip["path"])
    first = evaluate(encoder, "globalrg-retrieval", str(data["globalrg-retrieval"]))
    assert first["cache"]["images_encoded"] == 18 and first["cache"]["texts_encoded"] > 0
    assert first["cache"]["directory"].startswith(str(tmp_path / "cache"))
    again = evaluate(load_encoder(clip["path"]), "globalrg-retrieval", str(data["globalrg-retrieval"]))
    assert again["cache"]["images_encoded"] == again["cache"]["texts_encoded"] == 0
    assert again["cache"]["images_cached"] == 18
    assert again["items"] == first["items"]
    # The same weights, loaded elsewhere, are the same model: their embeddings are reused.
    same = evaluate(clip["model"], "globalrg-retrieval", str(data["globalrg-retrieval"]), processor=clip["processor"])
    assert same["cache"]["images_encoded"] == 0
    without = evaluate(encoder, "globalrg-retrieval", str(data["globalrg-retrieval"]), use_cache=False)
    assert without["cache"]["images_encoded"] == 18 and without["cache"]["directory"] is None


def test_a_damaged_cache_is_named_and_an_interrupted_save_keeps_the_old_one(clip, data, tmp_path, monkeypatch):
    from pathlib import Path

    from cultureclip.evaluation.cache import EmbeddingStore

    result = evaluate(clip["path"], "globalrg-retrieval", str(data["globalrg-retrieval"]), cache_dir=tmp_path)
    directory = Path(result["cache"]["directory"])
    before = (directory / "images.pt").read_bytes()
    store = EmbeddingStore(directory)
    store.texts["a new text"] = torch.zeros(4)

    def interrupted(obj, path):
        Path(path).write_bytes(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.save()
    monkeypatch.undo()
    assert (directory / "images.pt").read_bytes() == before
    assert len(EmbeddingStore(directory).images) == 18

    (directory / "texts.pt").write_bytes(b"not a torch file")
    with pytest.raises(RuntimeError, match=rf"(?s){re.escape(str(directory))}.*delete that folder.*--no-cache"):
        evaluate(clip["path"], "globalrg-retrieval", str(data["globalrg-retrieval"]), cache_dir=tmp_path)


def test_changed_weights_do_not_reuse_the_cache(clip, data, tmp_path):
    from transformers import CLIPModel

    other = CLIPModel.from_pretrained(clip["path"])
    with torch.no_grad():
        other.visual_projection.weight.mul_(2)
    evaluate(clip["path"], "globalrg-grounding", str(data["globalrg-grounding"]), cache_dir=tmp_path)
    result = evaluate(
        other, "globalrg-grounding", str(data["globalrg-grounding"]), processor=clip["processor"], cache_dir=tmp_path
    )
    assert result["cache"]["images_encoded"] == 9


def test_the_cache_key_covers_the_model_config_and_the_tokenizer(clip):
    """Same weights with another activation, or another tokenizer, embed differently: never a cache hit."""
    from transformers import CLIPModel, CLIPProcessor

    same = load_encoder(clip["path"]).fingerprint
    assert load_encoder(clip["model"], clip["processor"]).fingerprint == same
    other_activation = CLIPModel.from_pretrained(clip["path"])
    other_activation.config.text_config.hidden_act = "gelu"
    assert load_encoder(other_activation, clip["processor"]).fingerprint != same
    other_tokenizer = CLIPProcessor.from_pretrained(clip["path"])
    other_tokenizer.tokenizer.backend_tokenizer.normalizer = None
    assert load_encoder(clip["model"], other_tokenizer).fingerprint != same


def test_unreadable_images_are_counted_and_never_scored(clip, tmp_path):
    from datasets import Dataset, Features, Image, Value

    rows = eval_datasets.globalrg_retrieval_rows()
    rows["image"][3] = eval_datasets.BROKEN
    features = Features({"image": Image(), "universal": Value("string"), "region": Value("string")})
    dataset = Dataset.from_dict(rows, features=features)
    for _ in range(2):  # the second run reads the failure from the cache
        result = evaluate(clip["path"], "globalrg-retrieval", dataset, cache_dir=tmp_path)
        assert result["skipped"] == 1 and result["total"] == 17
        assert [entry["row"] for entry in result["unreadable_images"]] == [3]
        assert "UnidentifiedImageError" in result["unreadable_images"][0]["error"]
        assert 3 not in {item["fields"]["row"] for item in result["items"]}


def test_missing_column_names_the_column_and_the_option(clip, data, tmp_path):
    from datasets import load_from_disk

    dataset = load_from_disk(str(data["globalrg-retrieval"]))["test"].rename_column("region", "country")
    with pytest.raises(
        ValueError, match=r"no column 'region' \(set region_column=NAME.*globalrg-retrieval\.region_column"
    ):
        evaluate(clip["path"], "globalrg-retrieval", dataset, use_cache=False)
    result = evaluate(clip["path"], "globalrg-retrieval", dataset, region_column="country", use_cache=False)
    assert result["total"] == 18


def test_bad_options_and_benchmarks_are_rejected(clip, data):
    with pytest.raises(ValueError, match="Unknown option.*'regoin_column'"):
        evaluate(clip["path"], "globalrg-retrieval", str(data["globalrg-retrieval"]), regoin_column="region")
    with pytest.raises(ValueError, match="Unknown benchmark 'imagenet'"):
        evaluate(clip["path"], "imagenet")
    with pytest.raises(ValueError, match="--dataset zeroshot=PATH_OR_ID"):
        evaluate(clip["path"], "zeroshot")
    with pytest.raises(ValueError, match="needs its processor"):
        evaluate(clip["model"], "crope", str(data["crope"]))


def test_crope_scores_main_and_definition_images(clip, data):
    from datasets import load_from_disk

    dataset = load_from_disk(str(data["crope"]))["test"]
    result = evaluate(clip["model"], "crope", dataset, processor=clip["processor"], use_cache=False)
    assert result["total"] == 10  # rows 0, 1, 3, 4: one main image each + 1, 2, 2, 1 definition images
    assert result["groups"]["role"]["target"]["total"] == 4
    rows = eval_datasets.crope_rows()
    for item in result["items"]:
        fields = item["fields"]
        if fields["role"] == "target":
            image = rows["image"][fields["row"]]
        else:
            image = rows["definition_images"][fields["row"]][fields["position"]]
        assert item["predicted_idx"] == clip_choice(clip, image, item["options"])


def test_crope_refuses_a_definition_column_of_single_images(clip, data):
    from datasets import load_from_disk

    dataset = load_from_disk(str(data["crope"]))["test"]
    with pytest.raises(ValueError, match="definition column 'image' holds one image per row"):
        evaluate(clip["path"], "crope", dataset, definition_images_column="image", use_cache=False)


def test_evaluating_from_a_training_callback_leaves_the_model_training(clip, data):
    from transformers import CLIPModel

    model = CLIPModel.from_pretrained(clip["path"]).train()
    model.text_model.encoder.layers[0].eval()  # a module the caller keeps in eval mode
    modes = {name: module.training for name, module in model.named_modules()}
    evaluate(
        model, "globalrg-grounding", str(data["globalrg-grounding"]), processor=clip["processor"], use_cache=False
    )
    assert {name: module.training for name, module in model.named_modules()} == modes


def test_cultwin_twin_accuracy_with_breakdowns(clip, data):
    result = evaluate(clip["path"], "cultwin", str(data["cultwin"]), use_cache=False)
    levels = result["groups"]["level"]
    assert levels["concept"]["total"] == 8 and levels["caption"]["total"] == 16
    assert result["accuracy"] == result["concept_accuracy"] == levels["concept"]["accuracy"]
    assert result["caption_accuracy"] == levels["caption"]["accuracy"]
    assert set(result["groups"]["concept_category"]) == {"Art", "Cuisine"}
    assert set(result["groups"]["caption_country"]) == {"CN", "IN", "HK"}
    assert result["dataset"]["config"] == "concepts"
    assert set(result["metrics"]) == {"accuracy", "concept_accuracy", "caption_accuracy"}


def test_cultwin_caption_level_scores_as_the_pairs_based_benchmark(clip, data):
    """The release samples caption pairs (caption k with the twin's caption k): the caption level asks
    the questions of the benchmark that read the ``pairs`` rows with their images, and scores them as
    one forward pass per question does."""
    result = evaluate(clip["path"], "cultwin", str(data["cultwin-sampled"]), use_cache=False)
    concepts = eval_datasets.cultwin_rows()
    images = dict(zip(concepts["concept_id"], concepts["images"]))
    pairs = eval_datasets.cultwin_pair_rows(sampled=True)
    old = []  # (image, options, correct_idx) of each pairs row, both images as anchors, asked once
    for row in range(len(pairs["pair_id"])):
        options = [pairs["pos_caption"][row], pairs["neg_caption"][row]]
        for correct_idx, side in enumerate(("pos", "neg")):
            image = (pairs[f"{side}_concept_id"][row], pairs[f"{side}_image_index"][row])
            if (image, options, correct_idx) not in old:
                old.append((image, options, correct_idx))
    predictions = [clip_choice(clip, images[concept][index], options) for (concept, index), options, _ in old]
    correct = sum(predicted == correct_idx for predicted, (_, _, correct_idx) in zip(predictions, old))
    items = [item for item in result["items"] if item["fields"]["level"] == "caption"]
    assert [(item["options"], item["correct_idx"], item["predicted_idx"]) for item in items] == [
        (options, correct_idx, predicted) for (_, options, correct_idx), predicted in zip(old, predictions)
    ]
    assert result["groups"]["level"]["caption"] == {"accuracy": correct / 8, "correct": correct, "total": 8}
    assert result["caption_accuracy"] == correct / 8
    every_pair = evaluate(clip["path"], "cultwin", str(data["cultwin"]), use_cache=False)
    assert every_pair["concept_accuracy"] == result["concept_accuracy"]  # the concept level does not use pairs


def test_cultwin_needs_the_release_beside_its_concepts(clip, data, tmp_path):
    concepts = datasets.load_dataset(str(data["cultwin"]), "concepts", split="test")
    with pytest.raises(ValueError, match="'pairs' configuration of its dataset, and a loaded Dataset holds only one"):
        evaluate(clip["path"], "cultwin", concepts, use_cache=False)
    from cultureclip.dataset_builder.cultwin import concepts_features

    other = {"pairs": ({"pair_id": ["p0"]}, datasets.Features({"pair_id": datasets.Value("string")}))}
    eval_datasets.release({"concepts": (eval_datasets.cultwin_rows(), concepts_features()), **other}, tmp_path / "old")
    with pytest.raises(ValueError, match=r"'pairs' configuration, which lacks \['pos_concept_id'"):
        evaluate(clip["path"], "cultwin", str(tmp_path / "old"), use_cache=False)
    datasets.DatasetDict({"test": concepts}).save_to_disk(str(tmp_path / "saved"))
    with pytest.raises(ValueError, match="save_to_disk folder .*saved holds only one: pass the dataset's Hub id"):
        evaluate(clip["path"], "cultwin", str(tmp_path / "saved"), use_cache=False)


def test_cultwin_rejects_another_schema(clip, data):
    with pytest.raises(ValueError, match="CulTwin 'concepts' schema.*concept_id"):
        evaluate(clip["path"], "cultwin", str(data["globalrg-retrieval"]), use_cache=False)


def test_zeroshot_top1_top5_and_groups(clip, data):
    result = evaluate(
        clip["path"], "zeroshot", str(data["zeroshot"]), group_column="region", templates="simple", use_cache=False
    )
    prompts = [f"a photo of a {name}." for name in ("cat", "dog", "bird")]
    for item in result["items"]:
        assert item["predicted_idx"] == clip_choice(clip, eval_datasets.image(400 + item["fields"]["row"]), prompts)
    assert result["top5_accuracy"] == 1.0  # three classes
    assert set(result["groups"]["group"]) == {"Africa", "Asia", "Europe"}
    assert result["classes"] == ["cat", "dog", "bird"]
    with pytest.raises(ValueError, match="Unknown template set"):
        evaluate(clip["path"], "zeroshot", str(data["zeroshot"]), templates="imagenet21k", use_cache=False)
    with pytest.raises(ValueError, match=r"classnames='\[cat,dog,bird\]' must be a list of class names"):
        evaluate(clip["path"], "zeroshot", str(data["zeroshot"]), classnames="[cat,dog,bird]", use_cache=False)
    with pytest.raises(ValueError, match="classnames has 2 names but the label column has 3 classes"):
        evaluate(clip["path"], "zeroshot", str(data["zeroshot"]), classnames=["cat", "dog"], use_cache=False)
    from pathlib import Path  # a Path to a data folder is as good as its string

    by_path = evaluate(clip["path"], "zeroshot", Path(data["zeroshot"]), templates="simple", use_cache=False)
    assert by_path["accuracy"] == result["accuracy"]
    unlabelled = datasets.load_dataset(str(data["zeroshot"]), split="test").map(
        lambda row, index: {"label": -1 if index == 5 else row["label"]}, with_indices=True
    )
    with pytest.raises(ValueError, match=r"Row 5 has label -1, not a class index in 0\.\.2"):
        evaluate(clip["model"], "zeroshot", unlabelled, processor=clip["processor"], use_cache=False)


def test_retrieval_recall_against_a_direct_computation(clip, data):
    result = evaluate(clip["path"], "retrieval", str(data["retrieval"]), use_cache=False)
    captions = [text for index in range(6) for text in (f"a picture number {index}", f"another view of item {index}")]
    assert result["captions"] == captions
    inputs = clip["processor"](
        text=captions, images=[eval_datasets.image(500 + i) for i in range(6)], return_tensors="pt", padding=True
    )
    with torch.inference_mode():
        logits = clip["model"](**inputs).logits_per_image
    image_hits = sum(int(logits[i].argmax()) // 2 == i for i in range(6))
    text_hits = sum(int(logits[:, c].argmax()) == c // 2 for c in range(12))
    assert result["correct"] == image_hits and result["accuracy"] == pytest.approx(image_hits / 6)
    assert result["text_to_image_recall@1"] == pytest.approx(text_hits / 12)
    assert result["image_to_text_recall@10"] >= result["image_to_text_recall@5"] >= result["image_to_text_recall@1"]


def test_images_are_hashed_by_content(tmp_path):
    from datasets import Dataset, Features, Image

    from cultureclip.evaluation.dataset_io import index_images

    same = io.BytesIO()
    eval_datasets.image(1).save(same, format="PNG")
    rows = [{"bytes": same.getvalue(), "path": None}] * 2 + [{"bytes": eval_datasets.png(2), "path": None}]
    index = index_images(Dataset.from_dict({"image": rows}, features=Features({"image": Image()})), "image")
    assert index.keys[0] == index.keys[1] != index.keys[2]
    assert index.read(index.keys[2]) == eval_datasets.png(2)


@pytest.mark.parametrize("name", ["globalrg-retrieval", "zeroshot"])  # saved with save_to_disk; a Parquet folder
def test_local_data_is_recorded_by_its_absolute_path(data, name, monkeypatch):
    """A relative path in the results could pass for a Hub id where the results are read (the model card)."""
    from cultureclip.evaluation.dataset_io import open_dataset

    monkeypatch.chdir(data[name].parent)
    info = open_dataset(data[name].name, split="test")["info"]
    assert info["id"] == str(data[name].resolve())


def _dataset(name: str, rows: dict):
    from datasets import Dataset, Features, Image, List, Value

    text = Value("string")
    features = {
        "globalrg-retrieval": {"image": Image(), "universal": text, "region": text},
        "globalrg-grounding": {"image": Image(), "region": text, "concept": text},
        "crope": {
            "image": Image(),
            "definition_images": List(Image()),
            "metadata": {"image_en_concept": text, "definition_concept": text},
            "answer": text,
        },
    }[name]
    return Dataset.from_dict(rows, features=Features(features))


# benchmark -> (its rows, the row to break, the column to break, a definition image's position)
BREAKS = {
    "globalrg-retrieval": (eval_datasets.globalrg_retrieval_rows, 1, "image", None),
    "globalrg-grounding": (eval_datasets.globalrg_grounding_rows, 6, "image", None),
    "crope": (eval_datasets.crope_rows, 3, "definition_images", 1),
}


@pytest.mark.parametrize("name", BREAKS)
def test_an_unreadable_image_changes_no_other_question(name, clip):
    """The row is dropped before the maps and the random calls: every other question is the one the
    dataset without that row asks; the row is counted and its image listed with the reason."""
    make_rows, broken_row, column, position = BREAKS[name]
    rows = make_rows()
    if position is None:
        rows[column][broken_row] = eval_datasets.BROKEN
    else:
        rows[column][broken_row][position] = eval_datasets.BROKEN
    without = {key: [v for row, v in enumerate(values) if row != broken_row] for key, values in rows.items()}
    encoder = load_encoder(clip["model"], clip["processor"])
    result = evaluate(encoder, name, _dataset(name, rows), use_cache=False)
    reference = evaluate(encoder, name, _dataset(name, without), use_cache=False)

    def asked(items, renumber):
        return [(renumber(item["fields"]["row"]), item["fields"].get("role"), item["options"]) for item in items]

    assert asked(result["items"], int) == asked(reference["items"], lambda row: row + (row >= broken_row))
    assert result["skipped"] == 1 and reference["skipped"] == 0
    assert [entry["row"] for entry in result["unreadable_images"]] == [broken_row]
    assert "UnidentifiedImageError" in result["unreadable_images"][0]["error"]


def test_rotated_and_transparent_images_are_scored_as_datasets_and_the_processor_see_them(clip):
    """The public loop's prediction (processor on the `datasets`-decoded image) for every question."""
    rows = eval_datasets.globalrg_retrieval_rows()
    awkward = list(eval_datasets.CASES.values())
    for row, make in enumerate(awkward):
        rows["image"][row] = {"bytes": make(), "path": None}
    dataset = _dataset("globalrg-retrieval", rows)
    result = evaluate(clip["model"], "globalrg-retrieval", dataset, processor=clip["processor"], use_cache=False)
    scored = {item["fields"]["row"]: item for item in result["items"]}
    assert set(range(len(awkward))) <= set(scored)
    for row, item in scored.items():
        assert item["predicted_idx"] == clip_choice(clip, dataset[row]["image"], item["options"]), row


def test_retrieval_keeps_identical_images_as_tied_items_unless_merged(clip, tmp_path):
    """CLIP_benchmark's gallery: one item per row, even when two rows hold the same image bytes."""
    folder = eval_datasets.retrieval_imagefolder(tmp_path / "retrieval", images=4)
    (folder / "test" / "3.png").write_bytes((folder / "test" / "0.png").read_bytes())
    encoder = load_encoder(clip["model"], clip["processor"])
    tied = evaluate(encoder, "retrieval", str(folder), use_cache=False)
    assert tied["total"] == 4 and [item["rows"] for item in tied["items"]] == [[0], [1], [2], [3]]
    assert tied["items"][0]["image"] == tied["items"][3]["image"]
    assert tied["items"][3]["caption_ids"] == [6, 7] and tied["options"]["merge_identical_images"] is False

    merged = evaluate(encoder, "retrieval", str(folder), merge_identical_images=True, use_cache=False)
    assert merged["total"] == 3 and merged["items"][0]["rows"] == [0, 3]
    assert merged["items"][0]["caption_ids"] == [0, 1, 6, 7]
    with pytest.raises(ValueError, match=r"merge_identical_images='yes' must be True or False"):
        evaluate(encoder, "retrieval", str(folder), merge_identical_images="yes", use_cache=False)


def test_crope_counts_the_rows_it_skips_for_an_empty_concept(clip):
    rows = eval_datasets.crope_rows()
    rows["answer"] = ["No", "NO", "yes", "no", "no"]
    rows["metadata"][4] = {"image_en_concept": "sari", "definition_concept": ""}
    result = evaluate(clip["model"], "crope", _dataset("crope", rows), processor=clip["processor"], use_cache=False)
    assert result["empty_concept_rows"] == [4]
    assert sorted({item["fields"]["row"] for item in result["items"]}) == [0, 1, 3]


def test_another_config_is_read_from_the_same_source_split_and_commit(monkeypatch):
    from cultureclip.evaluation import scoring

    calls = []
    monkeypatch.setattr(
        scoring, "open_dataset", lambda *args, **kwargs: calls.append((args, kwargs)) or {"dataset": 1}
    )
    info = {"id": "org/cultwin", "config": "concepts", "split": "test", "revision": "0123abc", "fingerprint": "f"}
    context = scoring.Context(None, None, None, {}, 42, info)
    assert context.open_config("pairs") == 1
    assert calls == [(("org/cultwin",), {"split": "test", "config": "pairs", "revision": "0123abc"})]
