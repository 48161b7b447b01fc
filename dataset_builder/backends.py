"""Chat backends for the language steps: a local ``transformers`` pipeline or an OpenAI-compatible server.

Both take OpenAI-style messages whose content is a string or a list of parts
(``{"type": "text", "text": ...}`` / ``{"type": "image", "image": PIL.Image}``) and return one
answer per request, in order. A request the server could not answer after its retries comes back
as a `BackendFailure` (a transient failure: the item stays pending and a rerun tries it again),
never as an exception that stops the batch.
"""

from __future__ import annotations

import base64
import io
import os
import time
from dataclasses import dataclass

from .config import ModelConfig


@dataclass(frozen=True)
class ChatRequest:
    messages: list[dict]
    seed: int


@dataclass(frozen=True)
class BackendFailure:
    """The server did not answer (connection refused, timeout, 5xx, 429) after every retry."""

    detail: str


class TransformersChat:
    """A local ``pipeline("text-generation" | "image-text-to-text")`` on this process's device, batched.

    Each batch is sampled under ``torch.manual_seed`` of its first request's seed, so the same
    batches give the same answers on a rerun.
    """

    def __init__(self, config: ModelConfig):
        import torch
        from transformers import pipeline

        from cultureclip.devices import default_device

        self.config = config
        dtype = "auto" if config.dtype == "auto" else getattr(torch, config.dtype)
        try:  # loaded on the device: under a launcher, a pipeline keeps the model where it was loaded
            self.pipe = pipeline(config.task, model=config.model, dtype=dtype, device_map=str(default_device()))
        except ImportError as error:
            if "torchvision" not in str(error).lower():
                raise
            raise ImportError(
                f"The processor of {config.model} needs torchvision (the Qwen2.5-VL processors do): install "
                "the torchvision build that matches your torch, or serve the model and set "
                "text_model.backend=openai (and vision_model.backend=openai if it is another model)."
            ) from error
        tokenizer = getattr(self.pipe, "tokenizer", None) or self.pipe.processor.tokenizer
        tokenizer.padding_side = "left"

    def generate(self, requests: list[ChatRequest]) -> list[str | BackendFailure]:
        import torch

        sampling = {"max_new_tokens": self.config.max_new_tokens, "do_sample": self.config.temperature > 0}
        if self.config.temperature > 0:
            sampling["temperature"] = self.config.temperature
        answers = []
        size = self.config.batch_size
        for start in range(0, len(requests), size):
            batch = requests[start : start + size]
            torch.manual_seed(batch[0].seed)
            chats = [r.messages for r in batch]
            if self.config.task == "image-text-to-text":
                # this pipeline hands unknown keyword arguments to its processor, not to generate()
                outputs = self.pipe(
                    text=chats, batch_size=len(batch), return_full_text=False, generate_kwargs=sampling
                )
            else:
                outputs = self.pipe(chats, batch_size=len(batch), return_full_text=False, **sampling)
            answers.extend(out[0]["generated_text"] for out in outputs)
        return answers


def _openai_content(content):
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if part["type"] == "image":
            buffer = io.BytesIO()
            part["image"].convert("RGB").save(buffer, format="PNG")
            url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
            parts.append({"type": "image_url", "image_url": {"url": url}})
        else:
            parts.append(part)
    return parts


class OpenAIChat:
    """An OpenAI-compatible ``/v1/chat/completions`` client (vLLM, TGI, ``transformers serve``).

    Up to ``concurrency`` requests in flight, each with a ``timeout_s`` and ``retries`` retries
    with exponential backoff (``backoff_s``, doubled each time) on connection errors, timeouts,
    429 and 5xx answers. Other 4xx answers are not retried (the request itself is wrong).
    """

    def __init__(self, config: ModelConfig):
        import httpx

        self.config = config
        headers = {}
        if config.api_key_env:
            key = os.environ.get(config.api_key_env)
            if not key:
                raise ValueError(f"text_model.api_key_env names {config.api_key_env}, which is not set.")
            headers["Authorization"] = f"Bearer {key}"
        self.client = httpx.Client(
            base_url=config.base_url.rstrip("/"),
            headers=headers,
            timeout=config.timeout_s,
            limits=httpx.Limits(max_connections=config.concurrency),
        )

    def _one(self, request: ChatRequest) -> str | BackendFailure:
        import httpx

        body = {
            "model": self.config.model,
            "messages": [{**m, "content": _openai_content(m["content"])} for m in request.messages],
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_new_tokens,
            "seed": request.seed,
            "stream": False,
        }
        error = ""
        for attempt in range(self.config.retries + 1):
            if attempt:
                time.sleep(self.config.backoff_s * 2 ** (attempt - 1))
            try:
                response = self.client.post("/chat/completions", json=body)
            except httpx.TransportError as exc:
                error = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code == 429 or response.status_code >= 500:
                error = f"HTTP {response.status_code}: {response.text[:200]}"
                continue
            if response.status_code >= 400:
                return BackendFailure(f"HTTP {response.status_code}: {response.text[:200]}")
            try:
                return response.json()["choices"][0]["message"]["content"] or ""
            except (ValueError, KeyError, IndexError, TypeError):
                error = f"unexpected answer: {response.text[:200]}"
        return BackendFailure(f"{self.config.retries + 1} tries failed; last: {error}")

    def generate(self, requests: list[ChatRequest]) -> list[str | BackendFailure]:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            return list(pool.map(self._one, requests))

    def close(self) -> None:
        self.client.close()


def make_backend(config: ModelConfig) -> TransformersChat | OpenAIChat:
    """The backend the config names."""
    return OpenAIChat(config) if config.backend == "openai" else TransformersChat(config)
