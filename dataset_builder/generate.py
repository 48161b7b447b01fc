"""``cultureclip generate``: run the CulTwin stages into a run folder, resumably.

Stages run in order (``concepts, twins, captions, images, quality, pairs``); each reads the records
of the earlier ones from the run folder and appends its own as items finish, so the same command
run again after a crash (or ``kill -9``) continues where it stopped and ends with exactly the
records of an uninterrupted run. A stage whose backend failed for some items stops the run (exit
code 1) with those items still pending; rerunning the command retries them.

Under ``accelerate launch`` the images stage is split across processes; the other stages run on
the main process. While it runs, the main process holds an OS lock on the run folder: a second
``generate`` on the same folder refuses at once.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path

from cultureclip.cli_args import ArgumentParser, add_set_option
from cultureclip.output_dirs import check_output_dir, mark, owned
from cultureclip.references import check_reference
from cultureclip.schemas import RunRecord

from . import captions, concepts, images, pairs, quality, twins
from .config import STAGES, GenerationConfig, load_config
from .pipeline import StageContext, StageResult
from .records import FILES, Rejection, read_records
from .run_folder import lock_run, read_run_record, repair_torn_tail, write_run_record

STAGE_RUNNERS: dict[str, Callable[[StageContext], StageResult]] = {
    "concepts": concepts.run,
    "twins": twins.run,
    "captions": captions.run,
    "images": images.run,
    "quality": quality.run,
    "pairs": pairs.run,
}
"""Each stage of `STAGES` -> the function that runs it (the registry; modules import their heavy libraries lazily)."""

# Under a launcher, the other processes wait in a barrier while the main process runs the language
# stages, which can take days with a large local model; torch's default 30-minute timeout would abort them.
PROCESS_GROUP_TIMEOUT = timedelta(days=7)

LIBRARIES = ("torch", "transformers", "diffusers", "accelerate", "datasets", "httpx", "cultureclip")


class RunFailed(RuntimeError):
    """A stage left items pending because its backend did not answer; rerun the same command."""


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def check_inputs(config: GenerationConfig, stages: list[str]) -> None:
    """Fails on bad stage names, input files or local model paths before the run folder is started."""
    from .curated import load_curated

    bad = [s for s in stages if s not in STAGES]
    if bad:
        raise ValueError(f"unknown stage(s) {bad}; choose from {','.join(STAGES)}.")
    load_curated(config.curated_path)
    missing = [f"{name}={path!r}" for name, path in config.local_paths(stages).items() if not Path(path).exists()]
    if missing:
        raise FileNotFoundError(
            f"no such local path: {', '.join(missing)}; pass the right --models-dir or fix the config field "
            "(a Hub id is org/name)."
        )


def start_run(config: GenerationConfig, run_dir: Path) -> RunRecord:
    """The run record: a new one, or the folder's own if it was started with the same config."""
    record = read_run_record(run_dir)
    if record is not None:
        started, now = GenerationConfig.from_dict(record.config).output_settings(), config.output_settings()
        changed = sorted(k for k in now if started.get(k) != now[k])
        if changed:
            raise ValueError(
                f"{run_dir} was started with a different config (differs in {changed}); "
                "resume with the same config, or use a new --output-dir."
            )
        record.config = config.to_dict()  # transport settings (server, timeouts) may change
        return record
    models = {
        "text_model": config.text_model.model if config.text_model else None,
        "vision_model": config.reader.model if config.quality.vlm_scores and config.reader else None,
        "diffusion": config.diffusion.model,
        "clip_score": config.quality.clip_model,
    }
    return RunRecord(config=config.to_dict(), models=models, seed=config.seed)


def stage_summary(ctx: StageContext, name: str, result, seconds: float, before: dict | None) -> dict:
    rejected = Counter(r.reason for r in read_records(ctx.run_dir, Rejection) if r.stage == name)
    return {
        "items_in": result.items_in,
        "kept": result.items_in - sum(rejected.values()) - result.failed,
        "rejected": dict(sorted(rejected.items())),
        "failed": result.failed,
        **({"failures": result.failures} if result.failures else {}),
        "seconds": round(seconds + (before or {}).get("seconds", 0.0), 3),
        "note": result.note,
    }


def generate(
    config: GenerationConfig, run_dir: str | Path, stages: list[str] | None = None, progress: bool = True
) -> RunRecord:
    """Runs ``stages`` (default: all) into ``run_dir`` and returns the run record.

    Raises:
        FileNotFoundError: a missing input file or local model path (nothing is written then).
        ValueError: bad stages, bad input files, a folder started with another config or being
            written by another process (`RunLocked`), or the pairs stage asked for before the
            quality stage has judged every image.
        RunFailed: a backend left items pending (the record says how many); rerun to retry them.
        ImportError: a local model needs a library that is not installed (a processor that needs
            torchvision beyond its video processor); the message says how to go on.
    """
    from cultureclip.devices import process_state

    stages = list(stages or STAGES)
    check_inputs(config, stages)
    state = process_state(timeout=PROCESS_GROUP_TIMEOUT)
    run_dir = Path(run_dir)
    new = read_run_record(run_dir) is None and not owned(run_dir)  # else a run to resume
    if new:
        check_output_dir(run_dir)
    state.wait_for_everyone()  # every process has judged the folder before the main one writes its lock
    run_dir.mkdir(parents=True, exist_ok=True)
    with lock_run(run_dir) if state.is_main_process else nullcontext():
        return _generate(config, run_dir, stages, progress, state, new)


def _generate(
    config: GenerationConfig, run_dir: Path, stages: list[str], progress: bool, state, new: bool
) -> RunRecord:
    record = start_run(config, run_dir)
    state.wait_for_everyone()
    if state.is_main_process:
        if new:
            mark(run_dir)
        for kind in FILES:
            repair_torn_tail(run_dir / FILES[kind])
        record.libraries = _versions()
        write_run_record(run_dir, record)
    state.wait_for_everyone()
    ctx = StageContext(config, run_dir, progress=progress)
    for name in [s for s in STAGES if s in stages]:
        start = time.perf_counter()
        result = None
        if name == "images" or state.is_main_process:
            result = STAGE_RUNNERS[name](ctx)
        state.wait_for_everyone()
        if not state.is_main_process:
            continue
        summary = stage_summary(ctx, name, result, time.perf_counter() - start, record.summary.get(name))
        record.summary[name] = summary
        record.summary = {
            stage: record.summary[stage] for stage in STAGES if stage in record.summary
        }  # pipeline order
        record.prompts.update(ctx.prompts_used)
        record.sampling = {
            role: {"temperature": m.temperature, "max_new_tokens": m.max_new_tokens}
            for role, m in (("text_model", config.text_model), ("vision_model", config.reader))
            if m is not None
        } | {"diffusion": {k: getattr(config.diffusion, k) for k in ("resolution", "steps", "guidance_scale")}}
        write_run_record(run_dir, record)
        if summary["failed"]:
            raise RunFailed(
                f"stage {name}: {summary['failed']} item(s) got no answer from the backend and are still "
                f"pending; fix the server and rerun the same command to retry them ({run_dir}/run.json). "
                f"Causes: {format_failures(summary['failures'])}"
            )
    return record


def format_failures(failures: dict[str, dict]) -> str:
    """One ``KIND xCOUNT (first: DETAIL)`` per failure kind, the most frequent first."""
    ordered = sorted(failures.items(), key=lambda item: -item[1]["count"])
    return "; ".join(f"{kind} x{f['count']} (first: {f['first']})" for kind, f in ordered)


def format_summary(record: RunRecord) -> str:
    lines = [f"{'stage':<9} {'in':>6} {'kept':>6} {'failed':>6} {'seconds':>8}  rejected"]
    for name, s in record.summary.items():
        rejected = ", ".join(f"{k}: {v}" for k, v in s["rejected"].items()) or "-"
        lines.append(f"{name:<9} {s['items_in']:>6} {s['kept']:>6} {s['failed']:>6} {s['seconds']:>8.1f}  {rejected}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = ArgumentParser(
        prog="cultureclip generate",
        description="Generate CulTwin data (concepts, twins, captions, images, quality scores, caption pairs) "
        "into a resumable run folder.",
        epilog="examples:\n"
        "  cultureclip generate --config configs/cultwin_paper.yaml --output-dir runs/cultwin\n"
        "  cultureclip generate --config configs/cultwin_tiny.yaml --models-dir tiny-models \\\n"
        "      --output-dir runs/tiny-gen --set captions.per_concept=2",
    )
    parser.add_argument("--config", required=True, help="YAML run config, e.g. configs/cultwin_paper.yaml")
    parser.add_argument(
        "--output-dir",
        required=True,
        help="the run folder: new, empty, or one this command started (rerun the same command to resume)",
    )
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset of the stages")
    add_set_option(parser, "captions.per_concept=2")
    parser.add_argument("--models-dir", help="fills ${models_dir} in the config (e.g. the make-tiny-models folder)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    variables = {"models_dir": args.models_dir} if args.models_dir else {}
    config = load_config(args.config, args.overrides, variables)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    local = config.local_paths(stages)  # checked together by generate(), with the --models-dir hint
    for name, reference in config.references(stages).items():  # offline, a Hub id must be in the cache
        if name not in local:
            check_reference(reference, name, "dataset" if name == "bottom_up.dataset" else "model")
    try:
        record = generate(config, args.output_dir, stages, progress=not args.no_progress)
    except RunFailed as error:
        print(format_summary(read_run_record(args.output_dir)), file=sys.stderr)
        print(f"cultureclip generate: {error}", file=sys.stderr)
        return 1
    print(format_summary(record))
    return 0
