"""The OpenAI-compatible backend: against a small scripted HTTP server (fast) and against a real
``transformers serve``: the tiny LLM with a server that stops mid-run, and the tiny VLM reading
images sent as data URLs."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_generate import SAMPLE, ScriptedVLM

from cultureclip.dataset_builder.backends import BackendFailure, ChatRequest, OpenAIChat
from cultureclip.dataset_builder.config import ModelConfig, load_config
from cultureclip.dataset_builder.generate import RunFailed, generate
from cultureclip.dataset_builder.records import Concept, Rejection, read_records
from cultureclip.dataset_builder.structured import parse_json


class ScriptedServer:
    """``/v1/chat/completions`` on 127.0.0.1 answering like `ScriptedVLM`; ``errors`` 503s first."""

    def __init__(self, errors: int = 0, port: int = 0):
        owner = self
        self.requests, self.errors = [], errors

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append(body)
                if owner.errors:
                    owner.errors -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                answer = ScriptedVLM(None).answer(body["messages"][0]["content"])
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": answer}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def top_down_config(base_url: str, model: str, cells: int, **text_model):
    settings = {"model": model, "backend": "openai", "base_url": base_url, "retries": 1, "backoff_s": 0.05}
    settings |= {"timeout_s": 30, "concurrency": 2, "batch_size": 1, "max_attempts": 2, **text_model}
    countries = ["CN", "JP", "KR", "IN", "PL", "GH", "NP", "FR"][:cells]
    return load_config(
        "configs/cultwin_paper.yaml",
        [
            f"curated_path={SAMPLE}",
            f"selection.countries=[{', '.join(countries)}]",
            "selection.categories=[Cuisine]",
            "concepts_per_cell=2",
            f"text_model={json.dumps(settings)}",
        ],
    )


def test_client_retries_server_errors_and_reports_unreachable_servers():
    server = ScriptedServer(errors=1)
    client = OpenAIChat(ModelConfig("m", backend="openai", base_url=server.url, retries=1, backoff_s=0.01))
    messages = [{"role": "user", "content": "Name 2 distinct concepts"}]
    [answer] = client.generate([ChatRequest(messages, 5)])
    assert parse_json(answer)["concepts"][0]["concept"] == "Mantou"
    assert len(server.requests) == 2 and server.requests[1]["seed"] == 5 and server.requests[1]["max_tokens"] == 512
    server.stop()
    start = time.monotonic()
    [failure] = client.generate([ChatRequest(messages, 5)])
    assert isinstance(failure, BackendFailure) and "2 tries failed" in failure.detail
    assert time.monotonic() - start < 10


def test_server_stopped_mid_run_leaves_a_resumable_run(tmp_path):
    server = ScriptedServer()
    config = top_down_config(server.url, "scripted", cells=4, concurrency=1)
    original = OpenAIChat.generate

    def stop_after_two_cells(self, requests):
        if len(server.requests) >= 2:
            server.stop()
        return original(self, requests)

    OpenAIChat.generate = stop_after_two_cells
    try:
        with pytest.raises(RunFailed, match="stage concepts: 2 item"):
            generate(config, tmp_path, stages=["concepts"], progress=False)
    finally:
        OpenAIChat.generate = original
    summary = json.loads((tmp_path / "run.json").read_text())["summary"]["concepts"]
    assert summary["failed"] == 2 and summary["kept"] == 2
    assert len(read_records(tmp_path, Concept)) == 4

    # the server is back at the same address: the same command finishes the two pending cells only
    again = ScriptedServer(port=server.server.server_port)
    generate(config, tmp_path, stages=["concepts"], progress=False)
    assert len(again.requests) == 2
    concepts = read_records(tmp_path, Concept)
    assert len(concepts) == 8 and len({c.concept_id for c in concepts}) == 8
    again.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(model: Path, port: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(model)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, env=os.environ.copy())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"transformers serve exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise TimeoutError(f"transformers serve did not come up in 120 s: {log.read_text()[-2000:]}")


def test_transformers_serve_with_the_tiny_llm_stopped_mid_run(tiny_models, tmp_path):
    pytest.importorskip("fastapi")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    model = tiny_models["llm"]
    server = _serve(model, port, tmp_path / "serve.log")
    config = top_down_config(base_url, str(model), cells=6, max_new_tokens=16, concurrency=1, timeout_s=20)
    original = OpenAIChat.generate
    calls = []

    def stop_after_three_cells(self, requests):
        calls.append(len(requests))
        if len(calls) == 7 and server.poll() is None:  # 3 cells x 2 attempts done, then the server dies
            server.kill()
            server.wait()
        return original(self, requests)

    OpenAIChat.generate = stop_after_three_cells
    try:
        start = time.monotonic()
        with pytest.raises(RunFailed):
            generate(config, tmp_path / "run", stages=["concepts"], progress=False)
        assert time.monotonic() - start < 120
    finally:
        OpenAIChat.generate = original
        if server.poll() is None:
            server.kill()
    summary = json.loads((tmp_path / "run" / "run.json").read_text())["summary"]["concepts"]
    assert summary["failed"] == 3 and sum(summary["rejected"].values()) == 3  # nonsense answers, with reasons

    server = _serve(model, port, tmp_path / "serve2.log")
    try:
        record = generate(config, tmp_path / "run", stages=["concepts"], progress=False)
    finally:
        server.kill()
        server.wait()
    assert record.summary["concepts"]["failed"] == 0
    rejected = [r.item_id for r in read_records(tmp_path / "run", Rejection)]
    assert sorted(rejected) == sorted(set(rejected)) and len(rejected) == 6


def test_images_reach_transformers_serve_as_the_local_pipeline_sees_them(tiny_models, tmp_path):
    """The image path of the OpenAI backend (PNG data URLs) against a real server: greedy answers of
    ``transformers serve`` with the tiny VLM equal the local pipeline's, image by image."""
    pytest.importorskip("fastapi")
    import numpy as np
    from PIL import Image

    from cultureclip.dataset_builder.backends import TransformersChat

    port = _free_port()
    model = str(tiny_models["vlm"])
    settings = {"task": "image-text-to-text", "max_new_tokens": 12, "temperature": 0.0, "dtype": "float32"}
    local = TransformersChat(ModelConfig(model, **settings))
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)) for _ in range(3)]
    requests = [
        ChatRequest(
            [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": "Score."}]}], 0
        )
        for image in images
    ]
    server = _serve(tiny_models["vlm"], port, tmp_path / "serve.log")
    try:
        remote = OpenAIChat(ModelConfig(model, backend="openai", base_url=f"http://127.0.0.1:{port}/v1", **settings))
        served = remote.generate(requests)
    finally:
        server.kill()
        server.wait()
    expected = [local.generate([request])[0] for request in requests]
    assert served == expected
    assert len(set(expected)) == len(images)  # each answer depends on its image
