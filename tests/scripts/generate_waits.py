"""Run under ``torchrun --nproc_per_node=2`` (gloo) with the tiny models' folder and a run folder: while the main
process runs a language stage longer than torch's default process-group timeout (lowered here to 2 s), the
other process waits for it instead of aborting. The other process also judges the new run folder late: the
main process must not write into it (its lock) before then. Exits non-zero on a timeout or a refused folder."""

import os
import sys
import time
from datetime import timedelta
from pathlib import Path

import torch.distributed.distributed_c10d as c10d

from cultureclip.dataset_builder import generate
from cultureclip.dataset_builder.config import load_config
from cultureclip.dataset_builder.pipeline import StageResult

c10d.default_pg_timeout = timedelta(seconds=2)  # what init_process_group uses when not told


def slow_stage(ctx):
    time.sleep(5)
    return StageResult(0)


def main():
    root = Path(__file__).parents[2]
    config = load_config(
        root / "configs" / "cultwin_tiny.yaml",
        [f"curated_path={root / 'tests' / 'data' / 'curated_sample.jsonl'}"],
        {"models_dir": sys.argv[1]},
    )
    generate.STAGE_RUNNERS["concepts"] = slow_stage
    if os.environ.get("RANK") == "1":
        read = generate.read_run_record

        def late(run_dir):
            time.sleep(2)
            return read(run_dir)

        generate.read_run_record = late
    generate.generate(config, Path(sys.argv[2]), ["concepts"], progress=False)
    from accelerate import PartialState

    if PartialState().is_main_process:
        print("generate waits OK")


if __name__ == "__main__":
    main()
