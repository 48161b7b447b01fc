"""Run under ``torchrun --nproc_per_node=N`` (gloo, CPU): the gathered loss equals one process on the full batch.

Each process encodes its shard of a global batch with a shared linear "encoder"; after DDP-style
gradient averaging, the encoder's gradient must equal the one of a single process that sees the
whole batch. Checked with equal shards and with uneven ones (process ``r`` holds ``PER_RANK - r``
rows, as in an uneven last batch); the loss's backward must hand gradients back with a
reduce-scatter, never an all-reduce of the whole gathered gradient. Exits non-zero
(AssertionError) on a mismatch.
"""

import torch
import torch.distributed as dist

from cultureclip.modeling import CultureCLIPLoss

PER_RANK, IN_DIM, DIM = 3, 6, 4


def encode_and_loss(encoder, inputs, ids, gather):
    embeds = [encoder(x) for x in inputs]
    loss = CultureCLIPLoss(gather_across_devices=gather)
    return loss(*embeds, torch.tensor(5.0), *ids, *ids)["loss"]  # the same repeats for captions


def no_all_reduce(*args, **kwargs):
    raise AssertionError("the loss's backward all-reduced the gathered gradient; it should reduce-scatter it")


def check(sizes):
    rank, world = dist.get_rank(), dist.get_world_size()
    total = sum(sizes)
    generator = torch.Generator().manual_seed(0)
    inputs = [torch.randn(total, IN_DIM, generator=generator) for _ in range(6)]
    # Repeated concepts (and captions) across ranks so that the duplicate masks need the gathered ids.
    pos_ids = torch.arange(total) % 2
    ids = (pos_ids, pos_ids + 10)

    torch.manual_seed(0)
    reference_encoder = torch.nn.Linear(IN_DIM, DIM)
    encoder = torch.nn.Linear(IN_DIM, DIM)
    encoder.load_state_dict(reference_encoder.state_dict())

    reference = encode_and_loss(reference_encoder, inputs, ids, gather=False)
    reference.backward()

    start = sum(sizes[:rank])
    shard = slice(start, start + sizes[rank])
    loss = encode_and_loss(encoder, [x[shard] for x in inputs], [i[shard] for i in ids], gather=True)
    all_reduce, dist.all_reduce = dist.all_reduce, no_all_reduce
    try:
        loss.backward()
    finally:
        dist.all_reduce = all_reduce
    for parameter in encoder.parameters():  # what DDP does to gradients
        dist.all_reduce(parameter.grad)
        parameter.grad /= world

    torch.testing.assert_close(loss, reference)
    for ours, theirs in zip(encoder.parameters(), reference_encoder.parameters()):
        torch.testing.assert_close(ours.grad, theirs.grad)
    return loss


def main():
    dist.init_process_group("gloo")
    world = dist.get_world_size()
    loss = check([PER_RANK] * world)
    check([PER_RANK - rank for rank in range(world)])
    if dist.get_rank() == 0:
        print(f"gather equivalence OK: world={world} loss={loss.item():.6f} (equal and uneven shards)")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
