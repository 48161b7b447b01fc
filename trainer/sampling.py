"""`GlobalBatchShards`: each process's contiguous slice of every global batch, a short last batch included."""

from __future__ import annotations

from collections.abc import Iterator, Sized


class GlobalBatchShards:
    """The batches of one process when N processes share each global batch of ``batch_size * N`` rows.

    The rows come in ``sampler`` order (the same on every process); each global batch is cut into
    N contiguous slices and process ``r`` gets slice ``r``. A short last batch is cut as evenly as
    possible instead of being padded with repeated rows (what accelerate's ``even_batches`` does), so
    the processes together see exactly the batches of one process with the global batch size, and
    the gathered contrastive loss is the same. Every process gets the same number of batches.

    Args:
        sampler: the row order (a ``SequentialSampler`` or a seeded ``RandomSampler``).
        batch_size: rows per process in a full batch.
        num_processes: N.
        process_index: r.
        drop_last: drop a short last global batch instead.

    Raises:
        ValueError: the last global batch has fewer rows than there are processes.
    """

    def __init__(
        self, sampler: Sized, batch_size: int, num_processes: int, process_index: int, drop_last: bool = False
    ):
        self.sampler = sampler
        self.batch_size = batch_size
        self.num_processes = num_processes
        self.process_index = process_index
        self.drop_last = drop_last
        last = len(sampler) % (batch_size * num_processes)
        if not drop_last and 0 < last < num_processes:
            raise ValueError(
                f"The last batch of {len(sampler)} rows would hold {last} row(s) for {num_processes} processes, "
                "so some would get none; set dataloader_drop_last=True (--dataloader_drop_last), or change "
                "per_device_train_batch_size."
            )

    def __len__(self) -> int:
        full, last = divmod(len(self.sampler), self.batch_size * self.num_processes)
        return full + (last > 0 and not self.drop_last)

    def __iter__(self) -> Iterator[list[int]]:
        indices = list(self.sampler)
        size = self.batch_size * self.num_processes
        for start in range(0, len(indices), size):
            batch = indices[start : start + size]
            if len(batch) < size and self.drop_last:
                return
            yield shard(batch, self.num_processes, self.process_index)


def shard(batch: list[int], num_processes: int, process_index: int) -> list[int]:
    """Slice ``process_index`` of ``batch`` cut into ``num_processes`` contiguous, near-equal slices."""
    base, extra = divmod(len(batch), num_processes)
    start = process_index * base + min(process_index, extra)
    return batch[start : start + base + (process_index < extra)]
