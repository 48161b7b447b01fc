"""Asking a model for JSON: parse, validate against the stage's schema, retry, then reject.

A stage turns each work item into a `Query` (messages, a seed and a ``validate`` function that
returns the item's records or raises `Invalid`). `ask` sends every pending query, asks again the
ones whose answer was malformed (a new seed each attempt) up to ``max_attempts`` times, and returns
one `Outcome` per item: kept records, a rejection with its reason, or a transient failure.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from .backends import BackendFailure, ChatRequest
from .run_folder import item_seed


class Invalid(ValueError):
    """An answer that does not fit the schema; ``reason`` is a short code recorded in rejections.

    ``final=True`` marks a well-formed answer that rejects the item (e.g. "not a cultural image"):
    it is recorded at once, not asked again.
    """

    def __init__(self, reason: str, detail: str = "", final: bool = False):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.final = final


@dataclass
class Outcome:
    item_id: str
    records: list = field(default_factory=list)
    """What the query's ``validate`` returned: the item's records (the quality stage: its scores)."""
    rejected: str | None = None
    """The rejection reason (the item is done, with nothing kept)."""
    detail: str = ""
    failed: BackendFailure | None = None
    """A transient backend failure: the item is not done; a rerun tries it again."""


@dataclass
class Query:
    item_id: str
    messages: list[dict]
    seed: int
    validate: Callable[[object], list]


def parse_json(text: str):
    """The first JSON object or array in a model's answer (code fences and prose around it allowed)."""
    decoder = json.JSONDecoder()
    for start, char in enumerate(text):
        if char in "{[":
            try:
                return decoder.raw_decode(text, start)[0]
            except json.JSONDecodeError:
                continue
    raise Invalid("not-json", "no JSON object or array in the answer")


def require_text(data, key: str, max_words: int | None = None) -> str:
    """``data[key]`` as a stripped non-empty string of at most ``max_words`` words."""
    if not isinstance(data, dict):
        raise Invalid("wrong-shape", f"expected an object, got {type(data).__name__}")
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise Invalid("missing-field", f"{key!r} must be a non-empty string")
    value = " ".join(value.split())
    if max_words is not None and len(value.split()) > max_words:
        raise Invalid("too-long", f"{key!r} has {len(value.split())} words, limit {max_words}")
    return value


def ask(backend, queries: list[Query], max_attempts: int) -> list[Outcome]:
    """Asks every query, re-asking malformed answers up to ``max_attempts`` times in all."""
    outcomes: dict[str, Outcome] = {}
    last: dict[str, tuple[Invalid, str]] = {}
    pending = list(queries)
    for attempt in range(max_attempts):
        if not pending:
            break
        requests = [ChatRequest(q.messages, item_seed(q.seed, attempt)) for q in pending]
        retry = []
        for query, answer in zip(pending, backend.generate(requests)):
            if isinstance(answer, BackendFailure):
                outcomes[query.item_id] = Outcome(query.item_id, failed=answer)
                continue
            try:
                outcomes[query.item_id] = Outcome(query.item_id, records=query.validate(parse_json(answer)))
            except Invalid as error:
                if error.final:
                    outcomes[query.item_id] = Outcome(query.item_id, rejected=error.reason, detail=error.detail)
                    continue
                last[query.item_id] = (error, answer)
                retry.append(query)
        pending = retry
    for query in pending:
        error, answer = last[query.item_id]
        detail = f"{error.detail} (after {max_attempts} attempts; last answer: {answer[:160]!r})"
        outcomes[query.item_id] = Outcome(query.item_id, rejected=error.reason, detail=detail)
    return [outcomes[q.item_id] for q in queries]
