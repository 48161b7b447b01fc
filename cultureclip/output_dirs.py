"""Output folders: never overwrite or delete what the project did not write; never leave half a folder.

Every folder a command creates holds a marker file, `MARKER`. A command refuses a non-empty output
folder unless it is told to replace it (``--overwrite``), and even then it deletes a folder only if
the marker shows the project wrote it. An output folder may not be, or contain, one of the
command's inputs (the checkpoint, the evaluation folder, the release).

`atomic_output_dir` builds a folder in a temporary sibling and renames it into place as its last
step, so a killed command leaves either the previous folder or none, never one that half loads.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from .errors import UserError

MARKER = ".cultureclip-output"
"""The file that marks a folder as written by cultureclip (never uploaded: `is_marker`)."""

_PARTIAL = ".partial-"


def is_marker(path: str | Path) -> bool:
    """Whether ``path`` is a marker file (publishing leaves these out)."""
    return Path(path).name == MARKER


def owned(path: str | Path) -> bool:
    """Whether ``path`` is a folder cultureclip wrote (it holds `MARKER`)."""
    return (Path(path) / MARKER).is_file()


def is_empty(path: str | Path) -> bool:
    """``True`` for a missing folder or one that holds nothing but a marker (just created)."""
    path = Path(path)
    return not path.exists() or (path.is_dir() and all(is_marker(entry) for entry in path.iterdir()))


def mark(path: str | Path) -> Path:
    """Creates ``path`` (if needed) and its marker; returns ``path``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text("written by cultureclip; safe for cultureclip to replace\n", encoding="utf-8")
    return path


def check_output_dir(
    path: str | Path,
    *,
    overwrite: bool = False,
    inputs: Mapping[str, str | Path | None] | None = None,
    option: str = "--output-dir",
) -> None:
    """Raises `UserError` unless ``path`` may receive a new output.

    Args:
        path: the output folder.
        overwrite: whether a non-empty folder that cultureclip wrote may be replaced.
        inputs: what the command reads, by name (``{"the checkpoint": ...}``): the output folder may
            be none of them nor contain one.
        option: the flag that named ``path``, for the message.
    """
    path = Path(path)
    resolved = path.resolve()
    for name, source in (inputs or {}).items():
        if source is None or not Path(source).exists():  # a Hub id, or nothing to protect
            continue
        source = Path(source).resolve()
        if resolved == source or resolved in source.parents:
            raise UserError(f"{option} {path} is or contains {name} ({source}); choose an output folder outside it.")
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path} is a file; choose a folder.")
    if is_empty(path):
        return
    if not overwrite:
        raise UserError(f"{option} {path} is not empty; choose a new folder, or pass --overwrite to replace it.")
    if not owned(path):
        raise UserError(
            f"{option} {path} was not written by cultureclip (it has no {MARKER}), so it is never deleted; "
            "choose a new folder, or empty it yourself."
        )


def remove_owned(path: str | Path) -> None:
    """Deletes a folder cultureclip wrote; refuses any other (the one place that deletes outputs)."""
    path = Path(path)
    if not owned(path):
        raise UserError(f"refusing to delete {path}: it has no {MARKER}, so cultureclip did not write it.")
    shutil.rmtree(path)


def prepare_output_dir(path: str | Path, **check: object) -> Path:
    """`check_output_dir`, then creates and marks the folder (for folders written in place, such as
    a resumable run folder; a folder cultureclip already wrote is kept as it is)."""
    path = Path(path)
    if not owned(path):
        check_output_dir(path, **check)
        mark(path)
    return path


@contextmanager
def atomic_output_dir(
    path: str | Path,
    *,
    overwrite: bool = False,
    inputs: Mapping[str, str | Path | None] | None = None,
    option: str = "--output-dir",
) -> Iterator[Path]:
    """Yields a marked temporary sibling of ``path`` to write into; renames it to ``path`` when the
    block ends without an error (replacing a previous output only as `check_output_dir` allows).

    On an error the temporary folder is removed; after a kill it stays as ``.<name>.partial-*``
    (never loadable as ``path``) and the next run into ``path`` removes it.
    """
    path = Path(path)
    check_output_dir(path, overwrite=overwrite, inputs=inputs, option=option)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}{_PARTIAL}*"):
        if owned(stale):
            shutil.rmtree(stale, ignore_errors=True)
    staging = mark(tempfile.mkdtemp(prefix=f".{path.name}{_PARTIAL}", dir=path.parent))
    umask = os.umask(0o022)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; the output gets the usual permissions
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if path.exists():
        if owned(path):
            old = path.with_name(f".{path.name}{_PARTIAL}old-{uuid.uuid4().hex[:8]}")
            path.rename(old)
            os.rename(staging, path)
            remove_owned(old)
            return
        (path / MARKER).unlink(missing_ok=True)
        path.rmdir()  # empty (check_output_dir refused any other); fails rather than deletes if not
    os.rename(staging, path)
