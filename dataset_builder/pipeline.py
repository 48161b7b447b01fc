"""What every stage shares: the run context, lazily loaded models and the resumable item loop."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from .config import GenerationConfig, ModelConfig
from .curated import CuratedTwin, load_curated
from .records import Rejection
from .run_folder import RecordWriter, rejected_ids
from .structured import Outcome


@dataclass
class StageResult:
    items_in: int
    failed: int = 0
    """Items a backend could not answer; they stay pending for the next run."""
    note: str = ""
    failures: dict[str, dict] = field(default_factory=dict)
    """Why they failed: failure kind -> ``{"count", "first"}`` (the first failure's detail)."""


@dataclass
class StageContext:
    """One run: its config, folder, prompt texts and models (loaded on first use, once)."""

    config: GenerationConfig
    run_dir: Path
    progress: bool = True
    prompts_used: dict[str, str] = field(default_factory=dict)
    _backends: dict = field(default_factory=dict)

    @cached_property
    def curated(self) -> list[CuratedTwin]:
        return load_curated(self.config.curated_path)

    def backend(self, model: ModelConfig):
        from .backends import make_backend

        key = repr(model)
        if key not in self._backends:
            self._backends[key] = make_backend(model)
        return self._backends[key]

    def prompt(self, name: str) -> str:
        """A prompt template (`load_prompt`), remembered for ``run.json``."""
        if name not in self.prompts_used:
            self.prompts_used[name] = load_prompt(name)
        return self.prompts_used[name]

    def render(self, name: str, **values) -> str:
        """The prompt ``name`` with its ``$placeholders`` filled."""
        from string import Template

        return Template(self.prompt(name)).substitute(**values)


def load_prompt(name: str) -> str:
    """The text of ``dataset_builder/prompts/<name>.txt``."""
    from importlib import resources

    return (resources.files("cultureclip.dataset_builder") / "prompts" / f"{name}.txt").read_text(encoding="utf-8")


def process(
    ctx: StageContext,
    stage: str,
    items: list,
    item_id: Callable[[object], str],
    handle: Callable[[list], list[Outcome]],
    batch_size: int,
    done: set[str],
) -> StageResult:
    """Runs ``handle`` over the items not yet done, in fixed batches, writing each outcome durably.

    Batches are cut from the full item list, and a batch with any item pending is sent whole: a
    local model samples a batch under one seed, so a resumed run gets the answers an uninterrupted
    one got. Only the pending items' outcomes are written. ``done`` holds the ids finished by
    earlier runs; rejections of this stage count as done too.
    """
    from tqdm.auto import tqdm

    ids = [item_id(i) for i in items]
    if len(set(ids)) != len(ids):  # one record per item id: a repeated id would lose an answer
        repeated = sorted(i for i, count in Counter(ids).items() if count > 1)[:5]
        raise ValueError(f"The {stage} stage got items with the same id {repeated}; each item must be distinct.")
    done = done | rejected_ids(ctx.run_dir, stage)
    writers: dict[type, RecordWriter] = {}
    failures: dict[str, dict] = {}
    bar = tqdm(total=len(items), initial=sum(item_id(i) in done for i in items), desc=stage, disable=not ctx.progress)
    try:
        for start in range(0, len(items), batch_size):
            batch = items[start : start + batch_size]
            pending = {item_id(i) for i in batch} - done
            if not pending:
                continue
            for outcome in handle(batch):
                if outcome.item_id not in pending:  # finished by an earlier run, asked again with its batch
                    continue
                if outcome.failed is not None:
                    kind = failures.setdefault(outcome.failed.kind, {"count": 0, "first": outcome.failed.detail})
                    kind["count"] += 1
                    continue
                records = outcome.records
                if outcome.rejected is not None:
                    records = [Rejection(stage, outcome.item_id, outcome.rejected, outcome.detail)]
                for record in records:
                    kind = type(record)
                    if kind not in writers:
                        writers[kind] = RecordWriter(ctx.run_dir, kind)
                    writers[kind].write(record)
                bar.update(1)
            for writer in writers.values():
                writer.sync()
    finally:
        bar.close()
        for writer in writers.values():
            writer.close()
    failed = sum(kind["count"] for kind in failures.values())
    return StageResult(len(items), failed, failures=failures)
