"""Several processes, one corpus: torchrun's environment on an existing engine
(``torch.distributed``: gloo on CPU, NCCL on GPUs).

``torchrun --nproc-per-node N -m evalkit run ...`` (or several nodes through torchrun's
rendezvous) starts N copies of the same command. Rank ``r`` of ``W`` encodes the shards whose
index is ``r mod W`` into the shared cache and keeps a top-k over them; the top-k states are then
gathered and merged. The merge is exact and order-free (see :mod:`evalkit.retrieval.search`),
so the records equal a single process's. Rank 0 scores and writes the records.

Ranks can be far apart in time: two long MLDR shards on 8 ranks leave 6 idle for hours, and
BM25 is built on rank 0 alone. So no rank ever *waits* inside a collective, whose watchdog
(``--dist-timeout``) would abort the job: every wait for another rank is a poll of the
rendezvous store (:func:`wait_for_all`, :func:`share`), which has no time limit, and a
collective starts only once every rank has arrived, so it takes milliseconds. Decisions that
must be the same on every rank (does this dataset run, fail, or have its records already?)
are rank 0's, handed to the others; the queries are encoded once, on rank 0, and broadcast.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np

from evalkit.errors import EvalkitError

DEFAULT_TIMEOUT_S = 1800.0
"""How long a collective may take once every rank is in it (``--dist-timeout``,
``EVALKIT_DIST_TIMEOUT``): ranks enter collectives together, so this only catches a rank that
is lost. Time spent waiting for a slow rank is not counted (see the module docstring)."""


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


def timeout_seconds(option: float | None = None) -> float:
    """``--dist-timeout`` when given, else ``EVALKIT_DIST_TIMEOUT``, else the default."""
    if option is not None:
        if not option > 0:
            raise EvalkitError(f"--dist-timeout {option}: must be a positive number of seconds")
        return float(option)
    raw = os.environ.get("EVALKIT_DIST_TIMEOUT")
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise EvalkitError(f"EVALKIT_DIST_TIMEOUT={raw!r}: expected a positive number of seconds")
    return value


def from_env(device: str | None = None, timeout_s: float | None = None) -> Dist:
    """The process group torchrun describes (``WORLD_SIZE`` > 1), initialised once with the
    collective timeout :func:`timeout_seconds`; a plain process is rank 0 of 1."""
    timeout = timeout_seconds(timeout_s)  # checked in a plain process too
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
            dist.init_process_group(
                backend="nccl" if use_nccl else "gloo", timeout=timedelta(seconds=timeout)
            )
        except Exception as e:  # rendezvous failures come in many types
            raise EvalkitError(f"torchrun: cannot join the process group ({e})") from None
    return Dist(rank, world, local)


# ---- waits without a watchdog: the rendezvous store -----------------------------------------

_steps = itertools.count()


def _key(name: str) -> str:
    # Every rank passes the same sync points in the same order (the decisions that could
    # make them differ are rank 0's, shared), so a counter names each point uniquely.
    return f"evalkit/{next(_steps)}/{name}"


def _store() -> Any:
    from torch.distributed import distributed_c10d

    return distributed_c10d._get_default_store()


def _poll(ready: Callable[[], bool], what: str) -> None:
    """Wait, with no time limit, until ``ready()``: a slow rank may take hours, and the rank
    itself failing ends the job (torchrun stops every rank when one exits in error)."""
    pause = 0.005
    while True:
        try:
            if ready():
                return
        except Exception as e:  # the store lives in torchrun's agent or rank 0: gone with it
            raise EvalkitError(f"torchrun: lost the other ranks while {what} ({e})") from None
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


def wait_for_all(dist: Dist, name: str) -> None:
    """Return once every rank has reached this point (named ``name`` in messages)."""
    if not dist.active:
        return
    key, store = _key(name), _store()
    store.add(key, 1)
    _poll(lambda: store.add(key, 0) >= dist.world, f"waiting for every rank at {name}")


def share(dist: Dist, name: str, value: Any = None) -> Any:
    """Rank 0's ``value`` (JSON) on every rank; the others wait for it."""
    if not dist.active:
        return value
    key, store = _key(name), _store()
    if dist.is_main:
        store.set(key, json.dumps(value))
        return value
    _poll(lambda: store.check([key]), f"waiting for rank 0's {name}")
    return json.loads(store.get(key))


def gather_to_main(dist: Dist, name: str, value: Any) -> list[Any] | None:
    """Every rank's ``value`` (JSON), in rank order, on rank 0 (which waits for them);
    ``None`` on the others, which go on at once."""
    if not dist.active:
        return [value]
    key, store = _key(name), _store()
    store.set(f"{key}/{dist.rank}", json.dumps(value))
    if not dist.is_main:
        return None
    keys = [f"{key}/{r}" for r in range(dist.world)]
    _poll(lambda: store.check(keys), f"waiting for every rank's {name}")
    return [json.loads(store.get(k)) for k in keys]


def _comm_device(dist: Dist) -> Any:
    import torch
    import torch.distributed as tdist

    return torch.device("cuda", dist.local_rank) if tdist.get_backend() == "nccl" else "cpu"


def broadcast_array(dist: Dist, name: str, array: np.ndarray | None) -> np.ndarray:
    """Rank 0's float32 ``array`` on every rank (the others pass ``None``): computed once."""
    if not dist.active:
        assert array is not None
        return array
    import torch
    import torch.distributed as tdist

    # Rank 0 shares the shape once it has the array: the others wait in the store, not in
    # the broadcast, however long rank 0 took to make it.
    shape = share(dist, name, list(array.shape) if dist.is_main and array is not None else None)
    if dist.is_main:
        assert array is not None
        t = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    else:
        t = torch.empty(shape, dtype=torch.float32)
    t = t.to(_comm_device(dist))
    tdist.broadcast(t, src=0)
    return t.cpu().numpy()


def device_for(dist: Dist, device: str | None) -> str | None:
    """One GPU per local rank under torchrun."""
    if not dist.active or device not in (None, "cuda"):
        return device  # a plain process: no torch import (a fully cached run needs none)
    import torch

    return f"cuda:{dist.local_rank}" if torch.cuda.is_available() else device


def gather_topk(dist: Dist, keys, positions, k: int):
    """Every rank's (n_queries, <=k) top-k, merged into one on every rank (numpy in, numpy
    out: a CPU search keeps its state in numpy)."""
    import torch
    import torch.distributed as tdist

    if isinstance(keys, np.ndarray):
        k_t, p_t = gather_topk(dist, torch.from_numpy(keys), torch.from_numpy(positions), k)
        return k_t.numpy(), p_t.numpy()

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
    wait_for_all(dist, "top-k gather")  # however long the slowest rank's shards took
    comm = _comm_device(dist)
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

    wait_for_all(dist, "counts")  # however long the slowest rank's shards took
    t = torch.tensor(values, dtype=torch.float64, device=_comm_device(dist))
    tdist.all_reduce(t, op=tdist.ReduceOp.SUM if op == "sum" else tdist.ReduceOp.MAX)
    return t.cpu().tolist()


def barrier(dist: Dist) -> None:
    """Every rank here before any goes on, waiting without a watchdog."""
    wait_for_all(dist, "barrier")
