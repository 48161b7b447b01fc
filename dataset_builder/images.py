"""Stage 6: one image per caption from any diffusers text-to-image pipeline.

Each caption has its own seed (from the run seed and the caption id) and its own CPU
``torch.Generator``, so its starting latents do not depend on its batch, on the number of
processes or on whether the run was resumed (the pixels can differ by one level between batch
compositions: float rounding). Launched with ``accelerate launch``, the pending captions are split
across processes (one per GPU) with ``PartialState().split_between_processes``; as a plain
process it runs on one device (GPU if there is one, else CPU).
"""

from __future__ import annotations

import os

from .pipeline import StageContext, StageResult, process
from .records import Caption, ImageRecord, QualityScore, read_records
from .run_folder import item_seed, rejected_ids
from .structured import Outcome


def image_path(caption_id: str) -> str:
    return f"images/{caption_id}.png"


def load_pipeline(model: str, dtype: str, device):
    """The pipeline on ``device`` in ``dtype`` (``"auto"``: see `cultureclip.devices.resolve_dtype`)."""
    from importlib.metadata import version

    from diffusers import DiffusionPipeline
    from packaging.version import Version

    from cultureclip.devices import resolve_dtype

    # diffusers reads ``dtype`` from 0.40 on (and deprecates ``torch_dtype``); before, it ignored ``dtype``.
    keyword = "dtype" if Version(version("diffusers")) >= Version("0.40") else "torch_dtype"
    pipe = DiffusionPipeline.from_pretrained(model, **{keyword: resolve_dtype(dtype, device)})
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def generate_images(pipe, captions: list[Caption], seeds: list[int], config) -> list:
    """PIL images for ``captions``, one generator per caption (batched in one pipeline call)."""
    import torch

    generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]
    return pipe(
        prompt=[c.text for c in captions],
        num_inference_steps=config.steps,
        guidance_scale=config.guidance_scale,
        height=config.resolution,
        width=config.resolution,
        generator=generators,
    ).images


def save_durably(image, path) -> None:
    """Writes ``image`` to ``path`` through a temporary file, fsynced before the rename, so the
    record written after it never points at a truncated file (the caller fsyncs the folder)."""
    tmp = path.with_suffix(f".tmp{os.getpid()}.png")
    with tmp.open("wb") as handle:
        image.save(handle, format="PNG")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def fsync_dir(path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def run(ctx: StageContext) -> StageResult:
    from cultureclip.devices import process_state

    from .run_data import check_image

    state = process_state()
    config = ctx.config.diffusion
    captions = read_records(ctx.run_dir, Caption)
    recorded = {r.caption_id: r for r in read_records(ctx.run_dir, ImageRecord)}
    # A record whose file does not decode (a crash before the file reached the disk) is redone.
    # The images the quality stage has read (scored or rejected) decoded then: only the others are checked.
    read = {s.caption_id for s in read_records(ctx.run_dir, QualityScore)} | rejected_ids(ctx.run_dir, "quality")
    done = {c for c, r in recorded.items() if c in read or check_image(ctx.run_dir, c, r) is None}
    pending = [c for c in captions if c.caption_id not in done]
    if not pending:
        return StageResult(len(captions))
    pipe = load_pipeline(config.model, config.dtype, state.device)
    images_dir = ctx.run_dir / "images"
    images_dir.mkdir(exist_ok=True)

    def handle(batch: list[Caption]) -> list[Outcome]:
        seeds = [item_seed(ctx.config.seed, "image", c.caption_id) for c in batch]
        outcomes = []
        for caption, seed, image in zip(batch, seeds, generate_images(pipe, batch, seeds, config)):
            save_durably(image, ctx.run_dir / image_path(caption.caption_id))
            record = ImageRecord(caption.caption_id, image_path(caption.caption_id), seed, image.width, image.height)
            fresh = [] if caption.caption_id in recorded else [record]  # a redone file keeps its record
            outcomes.append(Outcome(caption.caption_id, records=fresh))
        fsync_dir(images_dir)  # the renames are durable before `process` fsyncs the records
        return outcomes

    ctx.progress = ctx.progress and state.is_main_process
    with state.split_between_processes(pending) as share:
        result = process(ctx, "images", share, lambda c: c.caption_id, handle, config.batch_size, done)
    state.wait_for_everyone()
    return StageResult(len(captions), result.failed)
