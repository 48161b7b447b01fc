"""Gathering across processes: 2 CPU processes (gloo) give the loss and gradients of one process on the full batch."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_two_processes_match_one_process_on_the_full_batch():
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
        str(ROOT / "tests" / "scripts" / "gather_equivalence.py"),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gather equivalence OK: world=2" in result.stdout
