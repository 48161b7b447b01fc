"""``load_dataset`` for one split, refusing Parquet files that lack a column of the card's features.

``datasets`` casts every data file to the features of the dataset card and fills a column that a
file lacks with nulls (``datasets.table.cast_table_to_schema``): a release whose shard lost a
column loads, and fails later with a misleading message (an empty caption, a crash in evaluation).
`load_split` reads each Parquet file's schema first (its footer only) and names the file and the
columns it lacks.
"""

from __future__ import annotations


def missing_columns(path: str, name: str | None, split: str, revision: str | None = None) -> dict[str, list[str]]:
    """Data file -> the columns of the card's features it lacks, for the Parquet files of ``split``."""
    import pyarrow.parquet as pq
    from datasets import config, load_dataset_builder
    from datasets.utils.file_utils import xopen

    builder = load_dataset_builder(path, name, revision=revision)
    features = builder.info.features
    data_files = builder.config.data_files or {}
    files = data_files.get(split.split("[")[0], [])  # "train[:10]" reads the files of "train"
    if features is None:
        return {}
    missing = {}
    for file in (str(f) for f in files if str(f).endswith(".parquet")):
        if config.HF_HUB_OFFLINE and "://" in file:  # offline, a Hub dataset is read from its Arrow cache
            continue
        with xopen(file, "rb") as handle:
            found = set(pq.read_schema(handle).names)
        if set(features) - found:
            missing[file] = sorted(set(features) - found)
    return missing


def load_split(path: str, name: str | None = None, *, split: str, revision: str | None = None):
    """``load_dataset(path, name, split=split, revision=revision)``, after checking its Parquet files.

    Raises:
        ValueError: a data file lacks columns the card's features list; the message names them.
    """
    from datasets import load_dataset

    missing = missing_columns(path, name, split, revision)
    if missing:
        file, columns = next(iter(missing.items()))
        more = f" (and {len(missing) - 1} more file(s))" if len(missing) > 1 else ""
        raise ValueError(
            f"{file} lacks the column(s) {columns} that the dataset card lists{more}; datasets would fill "
            "them with nulls. Rebuild the release (cultureclip build-dataset) or fix the file."
        )
    return load_dataset(path, name, split=split, revision=revision)
