"""``cultureclip``: one console script, one subcommand per job.

Each subcommand lives in the module that does the job and exposes ``main(argv: list[str])``
(open_clip style), so tests drive the real command in-process. Modules are imported only when
their command runs, which keeps ``cultureclip --help`` instant.

Errors follow one contract (`cultureclip.errors`): bad input prints one line,
``cultureclip <command>: error: ...``, and exits 2; ``cultureclip --debug <command>`` or
``CULTURECLIP_DEBUG=1`` shows the traceback instead. Any other exception is a bug and keeps its
traceback.
"""

from __future__ import annotations

import importlib
import os
import sys

from .errors import USER_ERRORS, one_line

# name -> (module with a ``main(argv)``, one-line help). Only commands that work are listed.
COMMANDS: dict[str, tuple[str, str]] = {
    "make-tiny-models": (
        "cultureclip.testing.tiny_models_cli",
        "build small random-weight CLIP, diffusion, LLM and VLM checkpoints (plumbing models)",
    ),
    "generate": (
        "cultureclip.dataset_builder.generate",
        "generate CulTwin data (concepts, twins, captions, images, quality filter) into a resumable run folder",
    ),
    "build-dataset": (
        "cultureclip.dataset_builder.release_cli",
        "build the CulTwin release (Parquet + dataset card) from a generation run folder",
    ),
    "validate-dataset": (
        "cultureclip.dataset_builder.validate_cli",
        "check a CulTwin release: schema, images, split leakage, duplicates, caption lengths",
    ),
    "train": (
        "cultureclip.trainer.train",
        "fine-tune CLIP on CulTwin pairs (twin-aware loss, LoRA) and export a plain CLIPModel",
    ),
    "evaluate": (
        "cultureclip.evaluation.cli",
        "score a CLIP model (and a baseline) on the cultural benchmarks, twin accuracy and zero-shot retention",
    ),
    "publish": (
        "cultureclip.publish",
        "publish the model (publish model) or the dataset (publish dataset) to the Hugging Face Hub in one commit",
    ),
    "demo": (
        "cultureclip.demo",
        "run the whole method on the embedded default (tiny models, offline, CPU) and build both releases",
    ),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    return (
        "usage: cultureclip [--debug] <command> [options]\n\n"
        "CultureCLIP: culturally aware CLIP from synthetic twin data.\n\ncommands:\n"
        + "\n".join(lines)
        + "\n\noptions:\n  --debug  show the traceback of a user error too (or set CULTURECLIP_DEBUG=1)"
        + "\n\nRun 'cultureclip <command> --help' for the options of one command."
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("CULTURECLIP_DEBUG", "").lower() in ("1", "true", "yes")
    if argv[:1] == ["--debug"]:
        debug, argv = True, argv[1:]
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] == "--version":
        from cultureclip import __version__

        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"cultureclip: unknown command {name!r}.\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    try:
        return module.main(rest) or 0
    except USER_ERRORS as error:
        if debug:
            raise
        print(f"cultureclip {name}: error: {one_line(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
