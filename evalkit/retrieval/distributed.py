"""Several processes, one corpus: torchrun's environment on an existing engine
(``torch.distributed``: gloo on CPU, NCCL on GPUs).

``torchrun --nproc-per-node N -m evalkit run ...`` (or several nodes through torchrun's
rendezvous) starts N copies of the same command. Rank ``r`` of ``W`` encodes the shards whose
index is ``r mod W`` into the shared cache and keeps a top-k over them; the top-k states are then
gathered and merged. The merge is exact and order-free (see :mod:`evalkit.retrieval.search`),
so the records equal a single process's. Rank 0 scores and writes the records.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from evalkit.errors import EvalkitError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def owns(self, shard_index: int) -> bool:
        return shard_index % self.world == self.rank


def from_env(device: str | None = None) -> Dist:
    """The process group torchrun describes (``WORLD_SIZE`` > 1), initialised once; a plain
    process is rank 0 of 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch
    import torch.distributed as dist

    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        use_nccl = torch.cuda.is_available() and (device is None or device.startswith("cuda"))
        try:
            dist.init_process_group(backend="nccl" if use_nccl else "gloo")
        except Exception as e:  # rendezvous failures come in many types
            raise EvalkitError(f"torchrun: cannot join the process group ({e})") from None
    return Dist(rank, world, local)


def device_for(dist: Dist, device: str | None) -> str | None:
    """One GPU per local rank under torchrun."""
    import torch

    if dist.active and torch.cuda.is_available() and device in (None, "cuda"):
        return f"cuda:{dist.local_rank}"
    return device


def gather_topk(dist: Dist, keys, positions, k: int):
    """Every rank's (n_queries, <=k) top-k, merged into one on every rank."""
    import torch
    import torch.distributed as tdist

    pad = k - keys.shape[1]
    if pad > 0:  # all_gather needs equal shapes: pad with keys that can never win
        fill = torch.iinfo(torch.int64).min
        keys = torch.cat(
            [keys, torch.full((keys.shape[0], pad), fill, dtype=torch.int64, device=keys.device)],
            dim=1,
        )
        positions = torch.cat(
            [
                positions,
                torch.full((positions.shape[0], pad), -1, dtype=torch.int64, device=keys.device),
            ],
            1,
        )
    comm = torch.device("cuda", dist.local_rank) if tdist.get_backend() == "nccl" else "cpu"
    keys, positions = keys.to(comm).contiguous(), positions.to(comm).contiguous()
    all_k = [torch.empty_like(keys) for _ in range(dist.world)]
    all_p = [torch.empty_like(positions) for _ in range(dist.world)]
    tdist.all_gather(all_k, keys)
    tdist.all_gather(all_p, positions)
    return torch.cat(all_k, dim=1).cpu(), torch.cat(all_p, dim=1).cpu()


def all_reduce(dist: Dist, values: list[float], op: str = "sum") -> list[float]:
    """``values`` summed (or their ``"max"``) over the ranks, on every rank."""
    import torch
    import torch.distributed as tdist

    dev = torch.device("cuda", dist.local_rank) if tdist.get_backend() == "nccl" else "cpu"
    t = torch.tensor(values, dtype=torch.float64, device=dev)
    tdist.all_reduce(t, op=tdist.ReduceOp.SUM if op == "sum" else tdist.ReduceOp.MAX)
    return t.cpu().tolist()


def barrier(dist: Dist) -> None:
    if dist.active:
        import torch.distributed as tdist

        tdist.barrier()
