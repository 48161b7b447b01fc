"""The distribution: one import name (``cultureclip``) that installs beside others, and a layered package."""

from __future__ import annotations

import ast
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
# Repository folder -> the package it is installed as (setup.cfg's package_dir).
FOLDERS = {
    "cultureclip": "cultureclip",
    "modeling_cultureclip": "cultureclip.modeling",
    "trainer": "cultureclip.trainer",
    "dataset_builder": "cultureclip.dataset_builder",
    "evaluation": "cultureclip.evaluation",
}
# The command-line and publishing layer: the method's packages never import it.
TOP_LAYER = (
    "cultureclip.cli",
    "cultureclip.demo",
    "cultureclip.publish",
    "cultureclip.hub",
    "cultureclip.cards",
    "cultureclip.space",
)


def _in_top_layer(module: str) -> bool:
    return any(module == top or module.startswith(f"{top}.") for top in TOP_LAYER)


COQUI_TRAINER = "trainer==0.0.36"


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            found[".".join((package, *parts))] = path
    return found


def _imports(name: str, path: Path, top_level_only: bool) -> set[str]:
    """The project modules ``name`` imports (``from . import x`` resolved), at module level or anywhere."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {module for module in found if module.startswith("cultureclip")}


def test_no_import_cycle():
    modules = _modules()
    graph = {
        name: {m for m in _imports(name, path, False) if m in modules and m != name} for name, path in modules.items()
    }
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt] if nxt in stack else [node, nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_the_method_never_imports_the_command_line_layer():
    offenders = [
        f"{name} imports {module}"
        for name, path in _modules().items()
        if not _in_top_layer(name) and name.split(".")[1:2] != ["testing"]
        for module in _imports(name, path, False)
        if _in_top_layer(module)
    ]
    assert not offenders


def test_no_project_module_imports_a_repository_folder_name():
    """``import trainer`` would pick up whatever distribution owns that name (Coqui's trainer, say)."""
    offenders = []
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            offenders += [f"{name}: {n}" for n in names if n.split(".")[0] in set(FOLDERS) - {"cultureclip"}]
    assert not offenders


def test_stage_registry_runs_every_stage_in_order():
    from cultureclip.dataset_builder.config import STAGES
    from cultureclip.dataset_builder.generate import STAGE_RUNNERS

    assert tuple(STAGE_RUNNERS) == STAGES
    assert all(
        runner.__name__ == "run" and runner.__module__.endswith(stage) for stage, runner in STAGE_RUNNERS.items()
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a fresh copy of the repository (an in-place build would leave a
    ``build/`` folder whose stale files later wheels could pick up)."""
    from test_readme import fresh_clone

    source = fresh_clone(tmp_path_factory.mktemp("source"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("cultureclip-*.whl")
    return path


@pytest.mark.slow
def test_wheel_has_one_top_level_import_name(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert {t for t in top if not t.endswith((".dist-info", ".data"))} == {"cultureclip"}
    for needed in (
        "cultureclip/trainer/cultureclip_trainer.py",
        "cultureclip/modeling/loss.py",
        "cultureclip/dataset_builder/data/curated_twins.jsonl",
        "cultureclip/dataset_builder/prompts/captions.txt",
        "cultureclip/evaluation/metrics/recall_at_k/recall_at_k.py",
        "cultureclip/testing/tiny_models.py",
    ):
        assert needed in names
    (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")] or [None]
    if top_level:
        assert zipfile.ZipFile(wheel).read(top_level).decode().split() == ["cultureclip"]


def _digests(site: Path, distribution: str) -> dict[str, str]:
    (record,) = site.glob(f"{distribution}-*.dist-info/RECORD")
    files = [line.split(",")[0] for line in record.read_text().splitlines() if line]
    return {f: hashlib.sha256((site / f).read_bytes()).hexdigest() for f in files if (site / f).is_file()}


@pytest.mark.slow
def test_installs_beside_coqui_trainer(wheel, tmp_path):
    """``pip install`` of the wheel next to Coqui's ``trainer`` leaves both importable and untouched."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # The heavy dependencies (torch, transformers...) come from this environment; the project's own
    # editable install does not (its .pth files are not processed from a path added this way).
    (site / "_deps.pth").write_text("\n".join(p for p in sys.path if p.endswith("site-packages")) + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = [python, "-m", "pip", "install", "-q"]
    subprocess.run([*pip, COQUI_TRAINER], check=True, env=env, capture_output=True)
    before = _digests(site, "trainer")
    subprocess.run([*pip, "--no-deps", str(wheel)], check=True, env=env, capture_output=True)
    assert _digests(site, "trainer") == before
    check = (
        "import trainer, cultureclip.trainer as ours\n"
        "from trainer import Trainer, TrainerArgs\n"
        "from cultureclip.trainer import CultureCLIPConfig\n"
        "import cultureclip.dataset_builder, cultureclip.evaluation, cultureclip.modeling\n"
        "print(trainer.__file__); print(ours.__file__)"
    )
    result = subprocess.run([python, "-c", check], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    coqui, ours = result.stdout.split()
    assert Path(coqui) == site / "trainer" / "__init__.py"
    assert Path(ours) == site / "cultureclip" / "trainer" / "__init__.py"
