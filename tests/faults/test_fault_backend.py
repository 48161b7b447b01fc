"""Fault injection into the OpenAI-compatible backend (issue 14, points 13-15): servers that drip,
answer oddly, fail in several ways, or are not there."""

import gzip
import json
import time

import pytest
from fake_servers import FakeServer, completion, drips, http_answer, refused_url, sends
from test_openai_backend import top_down_config

from cultureclip.dataset_builder.backends import BackendFailure, ChatRequest, OpenAIChat
from cultureclip.dataset_builder.config import ModelConfig
from cultureclip.dataset_builder.generate import RunFailed, generate
from cultureclip.dataset_builder.run_folder import read_run_record

MESSAGES = [{"role": "user", "content": "Name 2 distinct concepts"}]


def ask(url: str, **settings) -> str | BackendFailure:
    config = ModelConfig("m", backend="openai", base_url=url, **{"retries": 0, "backoff_s": 0.01, **settings})
    [answer] = OpenAIChat(config).generate([ChatRequest(MESSAGES, 1)])
    return answer


def test_timeout_is_a_deadline_for_the_whole_request():
    server = FakeServer(drips(completion("x" * 40), every_s=0.2))  # each byte well within timeout_s
    start = time.monotonic()
    answer = ask(server.url, timeout_s=1.0)
    elapsed = time.monotonic() - start
    server.stop()
    assert isinstance(answer, BackendFailure) and answer.kind == "timeout", answer
    assert elapsed < 3, f"a 1 s deadline held the request {elapsed:.1f} s"


BROKEN_GZIP = http_answer(200, b"\x1f\x8b\x08\x00not gzip at all", {"Content-Encoding": "gzip"})
ODD_ANSWERS = {
    "content is a number": (completion(42), "unexpected answer", "int"),
    "content is an object": (completion({"concepts": []}), "unexpected answer", "dict"),
    "body is not JSON": (http_answer(200, b"<html>busy</html>"), "unexpected answer", "<html>busy"),
    "no choices": (http_answer(200, b'{"error": "overloaded"}'), "unexpected answer", "no 'choices'"),
    "JSON is a list": (http_answer(200, b"[1, 2]"), "unexpected answer", "no 'choices'"),
    "broken gzip": (BROKEN_GZIP, "DecodingError", "DecodingError"),
}


@pytest.mark.parametrize("name", ODD_ANSWERS)
def test_odd_answers_are_rejected_with_their_reason_and_retried(name):
    answer, kind, reason = ODD_ANSWERS[name]
    server = FakeServer(sends(answer))
    failure = ask(server.url, retries=1)
    server.stop()
    assert isinstance(failure, BackendFailure) and failure.kind == kind, failure
    assert reason in failure.detail and "2 tries failed" in failure.detail
    assert server.requests == 2  # a server having a bad moment gets its retry


def test_well_formed_variants_of_an_answer_are_read():
    text_parts = completion([{"type": "text", "text": '{"a": '}, {"type": "text", "text": "1}"}])
    gzipped = http_answer(200, gzip.compress(completion("ok").partition(b"\r\n\r\n")[2]), {"Content-Encoding": "gzip"})
    for answer, expected in ((text_parts, '{"a": 1}'), (completion(None), ""), (gzipped, "ok")):
        server = FakeServer(sends(answer))
        assert ask(server.url) == expected
        server.stop()


def test_client_errors_are_not_retried():
    server = FakeServer(sends(http_answer(400, b'{"error": "max_tokens too large"}')))
    failure = ask(server.url, retries=3)
    server.stop()
    assert failure == BackendFailure("HTTP 400", 'HTTP 400: {"error": "max_tokens too large"}')
    assert server.requests == 1


def test_failed_run_names_each_cause_with_its_count(tmp_path):
    answers = [http_answer(400, b"bad model name"), http_answer(500, b"CUDA out of memory")]
    server = FakeServer(lambda connection: connection.sendall(answers[server.requests % 2]))
    config = top_down_config(server.url, "scripted", cells=4, retries=0, concurrency=1)
    with pytest.raises(RunFailed) as raised:
        generate(config, tmp_path, stages=["concepts"], progress=False)
    server.stop()
    message = str(raised.value)
    assert "4 item(s) got no answer" in message
    assert "HTTP 400 x2 (first: HTTP 400: bad model name)" in message
    assert "HTTP 500 x2 (first: HTTP 500: CUDA out of memory)" in message
    failures = read_run_record(tmp_path).summary["concepts"]["failures"]
    assert {kind: f["count"] for kind, f in failures.items()} == {"HTTP 400": 2, "HTTP 500": 2}


def test_unreachable_server_is_named(tmp_path):
    config = top_down_config(refused_url(), "scripted", cells=2, retries=0)
    with pytest.raises(RunFailed, match=r"ConnectError x2 \(first: ConnectError: "):
        generate(config, tmp_path, stages=["concepts"], progress=False)
    assert json.loads((tmp_path / "run.json").read_text())["summary"]["concepts"]["failed"] == 2


def test_the_client_works_inside_a_running_event_loop():
    import asyncio

    server = FakeServer(sends(completion("ok")))

    async def notebook_cell():
        return ask(server.url)

    assert asyncio.run(notebook_cell()) == "ok"
    server.stop()
