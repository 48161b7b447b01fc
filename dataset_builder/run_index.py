"""An on-disk index of a run folder's records, so that building a release of any size needs the same memory.

`RunIndex` reads each JSON Lines file once into a SQLite table in a temporary file; its
`RecordTable` views look records up by id like a read-only dict (with a small bounded cache, since
pairs use the same twin, concepts and captions many times in a row). It also indexes the captions
the released pairs use, which give each image its position in its concept's ``images`` list.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import weakref
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from itertools import groupby
from pathlib import Path
from typing import Generic, TypeVar

from cultureclip.errors import UserError

from .records import Caption, Concept, ImageRecord, Pair, QualityScore, Twin, iter_records

R = TypeVar("R")

KEYS = {
    Concept: "concept_id",
    Twin: "twin_id",
    Caption: "caption_id",
    ImageRecord: "caption_id",
    QualityScore: "caption_id",
}
"""The record kinds the index holds, and the field each is looked up by."""
MIN_SQLITE = (3, 33, 0)
"""The oldest SQLite with what the index's queries use (``UPDATE ... FROM``, upserts, window functions)."""
CACHED_LOOKUPS = 4096
"""Records each `RecordTable` keeps decoded: enough for the captions of hundreds of twin pairs."""


class RecordTable(Mapping[str, R], Generic[R]):
    """The records of one kind keyed by id, read from the index: a read-only dict in which the
    last record of an id wins and iteration follows each id's first record, as
    ``{r.caption_id: r for r in records}`` would."""

    def __init__(self, db: sqlite3.Connection, kind: type[R]):
        self._db, self._kind, self._table = db, kind, kind.__name__
        self._lookup = lru_cache(maxsize=CACHED_LOOKUPS)(self._fetch)

    def _fetch(self, key: str) -> R | None:
        row = self._db.execute(f"SELECT record FROM {self._table} WHERE key = ?", (key,)).fetchone()
        return None if row is None else self._kind(**json.loads(row[0]))

    def __getitem__(self, key: str) -> R:
        record = self._lookup(key)
        if record is None:
            raise KeyError(key)
        return record

    def __iter__(self) -> Iterator[str]:
        for (key,) in self._db.execute(f"SELECT key FROM {self._table} ORDER BY rowid"):
            yield key

    def values(self) -> Iterator[R]:
        for (record,) in self._db.execute(f"SELECT record FROM {self._table} ORDER BY rowid"):
            yield self._kind(**json.loads(record))

    def __len__(self) -> int:
        return self._db.execute(f"SELECT COUNT(*) FROM {self._table}").fetchone()[0]


def _to_json(record) -> str:
    # Not `records.to_json`: ``dataclasses.asdict`` leaves memory behind for each record it copies.
    return json.dumps(vars(record), ensure_ascii=False)


def _remove(db: sqlite3.Connection, folder: str) -> None:
    db.close()
    shutil.rmtree(folder, ignore_errors=True)


class RunIndex:
    """The records of a run folder in a SQLite file under a new temporary folder, removed by
    `close` (or when the index is garbage-collected).

    Raises:
        ValueError: A record line is not valid (see `iter_records`); nothing is left on disk.
    """

    def __init__(self, run_dir: str | Path):
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise UserError(
                f"This Python's SQLite is {sqlite3.sqlite_version}; building a release needs SQLite "
                f"{'.'.join(map(str, MIN_SQLITE))} or newer: use a Python built with a newer SQLite (python.org, "
                "conda, or a current distribution's)."
            )
        folder = tempfile.mkdtemp(prefix="cultwin-index-")
        self._db = sqlite3.connect(Path(folder) / "records.sqlite")
        self._close = weakref.finalize(self, _remove, self._db, folder)
        try:
            self._db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
            for kind, key in KEYS.items():
                self._add(kind, ((getattr(record, key), _to_json(record)) for record in iter_records(run_dir, kind)))
        except BaseException:
            self.close()
            raise
        self.tables = {kind: RecordTable(self._db, kind) for kind in KEYS}
        self.image_index = lru_cache(maxsize=CACHED_LOOKUPS)(self._position)
        """The position of the image of a used caption in its concept's list (see `concept_captions`)."""

    def _add(self, kind: type, rows: Iterable[tuple[str, str]]) -> None:
        with self._db:
            self._db.execute(f"CREATE TABLE {kind.__name__} (key TEXT PRIMARY KEY, record TEXT NOT NULL)")
            # An upsert keeps the row (and so the order) of the first record of an id, with the last one's content.
            self._db.executemany(
                f"INSERT INTO {kind.__name__} VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET record = excluded.record",
                rows,
            )

    def shared_concepts(self) -> list[tuple[str, list[str]]]:
        """``(concept_id, twin ids)`` of each concept in more than one twin pair, by concept id."""
        sides = " UNION ALL ".join(
            f"SELECT json_extract(record, '$.{side}_concept_id') AS concept_id, key AS twin_id, rowid FROM Twin"
            for side in ("pos", "neg")
        )
        rows = self._db.execute(
            f"SELECT concept_id, twin_id FROM ({sides}) WHERE concept_id IN "
            f"(SELECT concept_id FROM ({sides}) GROUP BY concept_id HAVING COUNT(*) > 1) ORDER BY concept_id, rowid"
        )
        return [
            (concept_id, [twin_id for _, twin_id in group]) for concept_id, group in groupby(rows, key=lambda r: r[0])
        ]

    def index_pairs(self, pairs: Iterable[Pair], captions: Mapping[str, Caption]) -> None:
        """Index the pair ids and the captions of ``pairs`` (read twice), replacing those indexed before."""

        def used():
            for pair in pairs:
                for caption_id in (pair.pos_caption_id, pair.neg_caption_id):
                    caption = captions[caption_id]
                    yield caption_id, caption.concept_id, caption.index, pair.twin_id

        with self._db:
            self._db.executescript(
                "DROP TABLE IF EXISTS used; DROP TABLE IF EXISTS pair_ids;"
                "CREATE TABLE pair_ids (pair_id TEXT PRIMARY KEY, copies INTEGER DEFAULT 1);"
                "CREATE TABLE used (caption_id TEXT PRIMARY KEY, concept_id TEXT, caption_index INTEGER,"
                " twin_id TEXT, position INTEGER);"
            )
            self._db.executemany(
                "INSERT INTO pair_ids (pair_id) VALUES (?) ON CONFLICT (pair_id) DO UPDATE SET copies = copies + 1",
                ((pair.pair_id,) for pair in pairs),
            )
            self._db.executemany("INSERT OR IGNORE INTO used VALUES (?, ?, ?, ?, NULL)", used())
            self._db.execute(
                "UPDATE used SET position = ranked.position FROM (SELECT caption_id, ROW_NUMBER() OVER "
                "(PARTITION BY concept_id ORDER BY caption_index, caption_id) - 1 AS position FROM used) AS ranked "
                "WHERE used.caption_id = ranked.caption_id"
            )
            self._db.execute("CREATE INDEX used_by_concept ON used (concept_id, position)")
        self.image_index.cache_clear()

    def pair_count(self) -> int:
        """How many indexed pairs there are (a repeated id counts each time)."""
        return self._db.execute("SELECT COALESCE(SUM(copies), 0) FROM pair_ids").fetchone()[0]

    def repeated_pair_ids(self) -> list[tuple[str, int]]:
        """``(pair_id, copies)`` of the pair ids the indexed pairs hold more than once."""
        return self._db.execute("SELECT pair_id, copies FROM pair_ids WHERE copies > 1 ORDER BY rowid").fetchall()

    def used_captions(self) -> Iterator[str]:
        """The ids of the captions the indexed pairs use, sorted."""
        for (caption_id,) in self._db.execute("SELECT caption_id FROM used ORDER BY caption_id"):
            yield caption_id

    def twin_ids(self) -> list[str]:
        """The ids of the twin pairs of the indexed pairs, sorted."""
        return [twin_id for (twin_id,) in self._db.execute("SELECT DISTINCT twin_id FROM used ORDER BY twin_id")]

    def _position(self, caption_id: str) -> int:
        return self._db.execute("SELECT position FROM used WHERE caption_id = ?", (caption_id,)).fetchone()[0]

    def concept_captions(self) -> Iterator[tuple[str, str, list[str]]]:
        """``(twin_id, concept_id, caption ids)`` of each concept the indexed pairs use, by concept
        id, its used captions ordered by their index, then id."""
        rows = self._db.execute("SELECT twin_id, concept_id, caption_id FROM used ORDER BY concept_id, position")
        for (twin_id, concept_id), group in groupby(rows, key=lambda row: row[:2]):
            yield twin_id, concept_id, [caption_id for *_, caption_id in group]

    def close(self) -> None:
        """Close the database and remove its temporary folder (again: nothing)."""
        self._close()
