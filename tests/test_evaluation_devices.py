"""Evaluation on accelerators: default device, half precision, decoding overlapped, one host copy, launchers."""

import threading

import eval_datasets
import pytest
import torch

from cultureclip import devices
from cultureclip.evaluation import evaluate, load_encoder
from cultureclip.evaluation.cache import EmbeddingStore
from cultureclip.evaluation.cli import main
from cultureclip.evaluation.encoder import EncodingStats

KEYS = [f"image-{i}" for i in range(5)]


def _read(key: str) -> bytes:
    return eval_datasets.png(int(key.split("-")[1]))


def test_a_model_named_by_path_goes_to_the_accelerator(tiny_models, monkeypatch):
    monkeypatch.setattr(devices, "default_device", lambda: torch.device("meta"))  # a stand-in accelerator
    assert load_encoder(str(tiny_models["clip"])).device.type == "meta"
    assert load_encoder(str(tiny_models["clip"]), device="cpu").device.type == "cpu"


def test_half_precision_gives_float32_embeddings_close_to_full_precision(tiny_models):
    full, half = (
        load_encoder(str(tiny_models["clip"]), dtype=dtype, batch_size=2) for dtype in ("float32", "bfloat16")
    )
    assert half.dtype == torch.bfloat16 and half.fingerprint != full.fingerprint  # a cache of its own
    stores = []
    for encoder in (full, half):
        store = EmbeddingStore()
        encoder.encode_images(KEYS, _read, store, EncodingStats())
        encoder.encode_texts(["a red square", "a blue circle"], store, EncodingStats())
        stores.append(store)
    for table in ("images", "texts"):
        for key, embed in stores[0].__dict__[table].items():
            other = stores[1].__dict__[table][key]
            assert other.dtype == torch.float32 and torch.dot(embed, other) > 0.98


def test_images_are_decoded_off_the_main_thread_with_the_same_embeddings(tiny_models):
    encoder = load_encoder(str(tiny_models["clip"]), batch_size=2)
    threads = []

    def read(key):
        threads.append(threading.current_thread() is threading.main_thread())
        return _read(key)

    store, serial = EmbeddingStore(), {}
    encoder.encode_images(KEYS, read, store, EncodingStats())
    assert len(threads) == 5 and not any(threads)
    for key in KEYS:  # one image per forward pass, decoded here: the same embedding
        other = EmbeddingStore()
        encoder.encode_images([key], _read, other, EncodingStats())
        serial[key] = other.images[key]
    assert all(torch.allclose(store.images[key], serial[key], atol=1e-6) for key in KEYS)


def test_embeddings_come_to_the_host_once_per_call(tiny_models, monkeypatch):
    encoder = load_encoder(str(tiny_models["clip"]), batch_size=1)
    copies = []
    to_host = torch.Tensor.cpu
    monkeypatch.setattr(torch.Tensor, "cpu", lambda self, *a, **k: copies.append(1) or to_host(self, *a, **k))
    encoder.encode_texts(["one", "two", "three", "four"], EmbeddingStore(), EncodingStats())
    encoder.encode_images(KEYS, _read, EmbeddingStore(), EncodingStats())
    assert len(copies) == 2  # 4 + 5 batches


def test_the_command_refuses_a_launcher_and_the_api_runs_on_the_first_process_only(tiny_models, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", str(tiny_models["clip"]), "--output-dir", "unused"])
    assert exit_info.value.code == 2
    assert "runs in one process, but this is one of 2 started by torchrun" in capsys.readouterr().err
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(RuntimeError, match=r"this is process 1 of a launch: call it from the first only"):
        evaluate(str(tiny_models["clip"]), "cultwin", "unused")
