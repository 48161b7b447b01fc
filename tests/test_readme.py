"""The README's commands are the ones CI runs."""

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _bash_blocks(text):
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_ci_runs_the_readme_setup_and_test_commands():
    setup, _main_job, tests = _bash_blocks((ROOT / "README.md").read_text())[:3]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert all(line in ci for line in setup.splitlines())
    assert tests in ci
