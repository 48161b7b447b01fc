"""Durable, resumable writes into a run folder (the layout is in `records`).

Every finished item is appended as one JSON line in a single ``write`` on an ``O_APPEND`` file,
and fsynced as soon as the batch that produced it finishes, so a run killed at any moment leaves at most one torn last line, which
`RecordWriter` truncates before it appends again (`records.read_records` ignores it too). Several
processes may append to the same file: each line is one ``write`` call.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cultureclip.schemas import RunRecord

from .records import Rejection, read_records, record_path, to_json

LOCK_FILE = ".lock"


class RunLocked(ValueError):
    """Another process is writing the run folder."""


@contextmanager
def lock_run(run_dir: str | Path) -> Iterator[None]:
    """Holds an exclusive OS lock (``flock``) on ``run_dir/.lock`` while the body writes the folder.

    The kernel releases the lock when the process ends, however it ends (``kill -9`` included), so
    a crash never leaves a stale lock behind. Under ``accelerate launch`` only the main process
    takes it: the processes of one launch share the run.

    Raises:
        RunLocked: another process holds the lock; the message names its pid.
    """
    import fcntl

    path = Path(run_dir) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise RunLocked(
                f"{run_dir} is being written by another process (pid {holder}); wait for it to finish, "
                "or use another --output-dir."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def repair_torn_tail(path: Path) -> None:
    """Cuts a last line that has no newline (what a killed writer leaves)."""
    if not path.exists():
        return
    with path.open("rb+") as handle:
        data = handle.read()
        if data and not data.endswith(b"\n"):
            handle.truncate(data.rfind(b"\n") + 1)
            handle.flush()
            os.fsync(handle.fileno())


class RecordWriter:
    """Appends records of one kind, durably, one line per record."""

    def __init__(self, run_dir: str | Path, kind: type):
        self.path = record_path(run_dir, kind)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, record) -> None:
        """Appends one line (one ``write`` call); `sync` makes it durable."""
        os.write(self._fd, (to_json(record) + "\n").encode("utf-8"))

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def rejected_ids(run_dir: str | Path, stage: str) -> set[str]:
    """Ids of the items a stage has already rejected (they count as done on resume)."""
    return {r.item_id for r in read_records(run_dir, Rejection) if r.stage == stage}


def item_seed(base_seed: int, *parts) -> int:
    """A stable 31-bit seed for one item, independent of order, batching and process count."""
    digest = hashlib.sha256(":".join(map(str, (base_seed, *parts))).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def read_run_record(run_dir: str | Path) -> RunRecord | None:
    """The folder's ``run.json``, or ``None`` when it has none yet."""
    path = Path(run_dir) / RunRecord.FILE
    return RunRecord.read(path) if path.exists() else None


def write_run_record(run_dir: str | Path, record: RunRecord) -> None:
    """Replaces ``run.json`` atomically (write a temporary file, then rename)."""
    record.write(Path(run_dir) / RunRecord.FILE)
