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
import json
import os
from dataclasses import dataclass

from cultureclip.errors import UserError

from .config import ModelConfig


@dataclass(frozen=True)
class ChatRequest:
    messages: list[dict]
    seed: int


@dataclass(frozen=True)
class BackendFailure:
    """The server did not answer usably (connection refused, deadline, an HTTP error, an answer that
    is not a chat completion) after every retry.

    Attributes:
        kind: the cause, short enough to count by (``HTTP 500``, ``ConnectError``, ``timeout``,
            ``unexpected answer``).
        detail: the cause in full, for the first failure of each kind.
    """

    kind: str
    detail: str


class _Unusable(Exception):
    """One try that got no usable answer; ``retry`` is False when asking again cannot help."""

    def __init__(self, kind: str, detail: str, retry: bool = True):
        super().__init__(detail)
        self.kind, self.detail, self.retry = kind, detail, retry


class TransformersChat:
    """A local ``pipeline("text-generation" | "image-text-to-text")`` on this process's device, batched.

    Each batch is sampled under ``torch.manual_seed`` of its first request's seed, so the same
    batches give the same answers on a rerun.
    """

    def __init__(self, config: ModelConfig):
        import torch
        from transformers import pipeline
        from transformers.utils import is_torchvision_available

        from cultureclip.devices import default_device

        from .processors import load_image_only_processor

        self.config = config
        dtype = "auto" if config.dtype == "auto" else getattr(torch, config.dtype)
        try:
            processor = None  # the pipeline loads the model's own
            if config.task == "image-text-to-text" and not is_torchvision_available():
                processor = load_image_only_processor(config.model)  # its video processor needs torchvision
            # loaded on the device: under a launcher, a pipeline keeps the model where it was loaded
            self.pipe = pipeline(
                config.task, model=config.model, processor=processor, dtype=dtype, device_map=str(default_device())
            )
        except ImportError as error:
            if "torchvision" not in str(error).lower():
                raise
            raise UserError(
                f"The processor of {config.model} needs torchvision: install the torchvision build that "
                "matches your torch, serve the model where it is installed (text_model.backend=openai), or, "
                "for the text-only stages, set text_model.task=text-generation (the model then answers from "
                "its tokenizer alone) with a vision_model that can read images."
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


def answer_text(payload) -> str:
    """The text of a ``/chat/completions`` answer: ``choices[0].message.content`` as a string
    (``null`` is empty; a list of text parts is joined).

    Raises:
        ValueError: the payload is not a chat completion; the message says what it holds instead.
    """
    choices = payload.get("choices") if isinstance(payload, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError(f"no 'choices' list in {_short(payload)}")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise ValueError(f"choices[0].message is not an object: {_short(message)}")
    content = message.get("content")
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list) and all(isinstance(p, dict) and isinstance(p.get("text"), str) for p in content):
        return "".join(p["text"] for p in content)
    raise ValueError(f"message content is a {type(content).__name__}, not text: {_short(content)}")


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= 200 else text[:200] + "..."


class OpenAIChat:
    """An OpenAI-compatible ``/v1/chat/completions`` client (vLLM, TGI, ``transformers serve``).

    Up to ``concurrency`` requests in flight. ``timeout_s`` bounds each try as a whole (connect,
    send, every byte of the answer), so a server that drips its answer cannot hold a request.
    A failed try is retried ``retries`` times with exponential backoff (``backoff_s``, doubled each
    time) on connection errors, deadlines, 429 and 5xx answers, undecodable bodies and answers
    that are not a chat completion; other 4xx answers are not retried (the request itself is wrong).
    """

    def __init__(self, config: ModelConfig):
        self.config = config
        self.headers = {}
        if config.api_key_env:
            key = os.environ.get(config.api_key_env)
            if not key:
                raise ValueError(f"text_model.api_key_env names {config.api_key_env}, which is not set.")
            self.headers["Authorization"] = f"Bearer {key}"

    def _body(self, request: ChatRequest) -> dict:
        return {
            "model": self.config.model,
            "messages": [{**m, "content": _openai_content(m["content"])} for m in request.messages],
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_new_tokens,
            "seed": request.seed,
            "stream": False,
        }

    async def _try(self, client, body: dict) -> str:
        import asyncio

        import httpx

        try:
            response = await asyncio.wait_for(client.post("/chat/completions", json=body), self.config.timeout_s)
        except asyncio.TimeoutError:
            raise _Unusable("timeout", f"no complete answer within timeout_s={self.config.timeout_s}") from None
        except httpx.HTTPError as error:  # transport errors, and bodies that do not decode (broken gzip)
            raise _Unusable(type(error).__name__, f"{type(error).__name__}: {error}") from None
        if response.status_code >= 400:
            retry = response.status_code == 429 or response.status_code >= 500
            kind = f"HTTP {response.status_code}"
            raise _Unusable(kind, f"{kind}: {_short(response.text)}", retry)
        try:
            return answer_text(response.json())
        except ValueError as error:  # not JSON (json.JSONDecodeError, UnicodeDecodeError) or not a completion
            raise _Unusable("unexpected answer", f"unexpected answer ({error}): {_short(response.text)}") from None

    async def _one(self, client, request: ChatRequest) -> str | BackendFailure:
        import asyncio

        body = self._body(request)
        tries = self.config.retries + 1
        for attempt in range(tries):
            if attempt:
                await asyncio.sleep(self.config.backoff_s * 2 ** (attempt - 1))
            try:
                return await self._try(client, body)
            except _Unusable as error:
                if not error.retry:
                    return BackendFailure(error.kind, error.detail)
                last = error
        return BackendFailure(last.kind, f"{tries} tries failed; last: {last.detail}" if tries > 1 else last.detail)

    async def _all(self, requests: list[ChatRequest]) -> list[str | BackendFailure]:
        import asyncio

        import httpx

        gate = asyncio.Semaphore(self.config.concurrency)

        async def limited(client, request):
            async with gate:
                return await self._one(client, request)

        limits = httpx.Limits(max_connections=self.config.concurrency)
        async with httpx.AsyncClient(
            base_url=self.config.base_url.rstrip("/"), headers=self.headers, timeout=None, limits=limits
        ) as client:
            return list(await asyncio.gather(*(limited(client, r) for r in requests)))

    def generate(self, requests: list[ChatRequest]) -> list[str | BackendFailure]:
        import asyncio
        from concurrent.futures import ThreadPoolExecutor

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._all(requests))
        with ThreadPoolExecutor(1) as thread:  # called from a running loop (a notebook): run beside it
            return thread.submit(asyncio.run, self._all(requests)).result()


def make_backend(config: ModelConfig) -> TransformersChat | OpenAIChat:
    """The backend the config names."""
    return OpenAIChat(config) if config.backend == "openai" else TransformersChat(config)
