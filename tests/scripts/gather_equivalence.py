"""Run under ``torchrun --nproc_per_node=N`` (gloo, CPU): the gathered loss equals one process on the full batch.

Each process encodes its shard of a global batch with a shared linear "encoder"; after DDP-style
gradient averaging, the encoder's gradient must equal the one of a single process that sees the
whole batch. Exits non-zero (AssertionError) on a mismatch.
"""

import torch
import torch.distributed as dist

from cultureclip.modeling import CultureCLIPLoss

PER_RANK, IN_DIM, DIM = 3, 6, 4


def encode_and_loss(encoder, inputs, ids, gather):
    embeds = [encoder(x) for x in inputs]
    loss = CultureCLIPLoss(gather_across_devices=gather)
    return loss(*embeds, torch.tensor(5.0), *ids, *ids)["loss"]  # the same repeats for captions


def main():
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    generator = torch.Generator().manual_seed(0)
    inputs = [torch.randn(PER_RANK * world, IN_DIM, generator=generator) for _ in range(6)]
    # Repeated concepts (and captions) across ranks so that the duplicate masks need the gathered ids.
    pos_ids = torch.arange(PER_RANK * world) % 2
    ids = (pos_ids, pos_ids + 10)

    torch.manual_seed(0)
    reference_encoder = torch.nn.Linear(IN_DIM, DIM)
    encoder = torch.nn.Linear(IN_DIM, DIM)
    encoder.load_state_dict(reference_encoder.state_dict())

    reference = encode_and_loss(reference_encoder, inputs, ids, gather=False)
    reference.backward()

    shard = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
    loss = encode_and_loss(encoder, [x[shard] for x in inputs], [i[shard] for i in ids], gather=True)
    loss.backward()
    for parameter in encoder.parameters():  # what DDP does to gradients
        dist.all_reduce(parameter.grad)
        parameter.grad /= world

    torch.testing.assert_close(loss, reference)
    for ours, theirs in zip(encoder.parameters(), reference_encoder.parameters()):
        torch.testing.assert_close(ours.grad, theirs.grad)
    if rank == 0:
        print(f"gather equivalence OK: world={world} loss={loss.item():.6f}")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
