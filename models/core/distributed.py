"""Data-parallel training across processes started by ``torchrun``.

``torchrun --nproc_per_node=N train_model.py DATA MODEL`` sets ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK`` in each process; :func:`start` joins them into one process group (NCCL on GPUs,
gloo on CPUs). Every process builds the same epoch plan from the same seed and trains on its own
share of the batches (:func:`shard`), DistributedDataParallel averages the gradients, and only
the main process validates, tunes thresholds and writes the model folder.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Sequence
from typing import TypeVar

import torch
import torch.distributed as dist

Item = TypeVar("Item")
Result = TypeVar("Result")

exchanges = itertools.count()  # numbers the scores this process has exchanged


def requested() -> bool:
    """Whether this process was started by ``torchrun`` with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank: from the group, or from ``torchrun``'s environment before joining."""
    return dist.get_rank() if active() else int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """The process that logs, validates and saves."""
    return rank() == 0


def start(device: torch.device) -> torch.device:
    """Join the process group when ``torchrun`` asked for one; returns this process's device.

    On GPUs each process takes the GPU of its local rank.
    """
    if not requested() or active():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def stop() -> None:
    if active():
        dist.destroy_process_group()


def shard(batches: Sequence[Item]) -> list[Item]:
    """This process's share of an epoch's batches; every process gets the same number.

    DistributedDataParallel needs all processes to take the same number of steps, so the last
    ``len(batches) % world_size`` batches of the epoch are left out.
    """
    size = world_size()
    if size == 1:
        return list(batches)
    if len(batches) < size:
        raise ValueError(f"{len(batches)} batches per epoch cannot feed {size} processes")
    steps = len(batches) // size
    return list(batches[rank() :: size][:steps])


def wrap(network: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The module to train: DistributedDataParallel over ``network`` when the group is active."""
    if not active():
        return network
    device_ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(network, device_ids=device_ids)


def main_first(work: Callable[[], Result]) -> Result:
    """Run ``work`` in the main process, then in the others: shared caches are built once."""
    if is_main():
        result = work()
        barrier()
        return result
    barrier()
    return work()


def broadcast_score(score: float | None) -> float | None:
    """The main process's held-out ``score`` in every process (``score`` itself without a group).

    What only the main process knows decides the same thing everywhere: a process that stopped
    training alone would leave the others waiting for its gradients.

    The score travels through the group's key-value store, not through a collective. A
    collective's tensors stay with the backend's worker thread a moment after it returns, and the
    gloo threads outlive ``destroy_process_group`` once DistributedDataParallel has used the
    group; a worker thread left releasing a tensor made in Python when the interpreter shuts down
    aborts the process ("terminate called without an active exception") after a run that
    otherwise succeeded. Every process asks for the same numbered keys in the same order.
    """
    if not active():
        return score
    store = dist.group.WORLD.get_group_store()
    key = f"score/{next(exchanges)}"
    if is_main():
        store.set(key, json.dumps(score))
    return json.loads(store.get(key))


def barrier() -> None:
    """Wait until every process of the group gets here (nothing to wait for without one)."""
    if active():
        dist.barrier()
