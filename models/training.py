"""The training loop both tasks share: AdamW, one pass of batches per epoch, keep the best epoch."""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch

Batch = tuple[tuple[torch.Tensor, ...], torch.Tensor]


@dataclass
class TrainConfig:
    """Optimisation settings; the task configurations hold one of these."""

    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    seed: int = 0


def pick_device(name: str | None = None) -> torch.device:
    """``cuda`` when there is a GPU, otherwise ``cpu``; an explicit name wins."""
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch; returns the generator the data pipeline should draw from."""
    random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def fit(
    network: torch.nn.Module,
    batches: Callable[[np.random.Generator], Iterable[Batch]],
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    config: TrainConfig,
    device: torch.device,
    validate: Callable[[torch.nn.Module], float] | None = None,
    log: Callable[[str], None] = print,
) -> torch.nn.Module:
    """Train ``network`` in place and return it with the weights of its best epoch.

    ``batches(rng)`` yields ``(inputs, targets)`` for one epoch. ``validate`` returns a score
    where higher is better; without it the last epoch is kept.
    """
    rng = seed_everything(config.seed)
    network.to(device)
    optimiser = torch.optim.AdamW(
        network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(config.epochs, 1))
    best_score, best_state = -np.inf, None
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        network.train()
        total, count = 0.0, 0
        for inputs, targets in batches(rng):
            inputs = tuple(tensor.to(device) for tensor in inputs)
            value = loss(network(*inputs), targets.to(device))
            optimiser.zero_grad(set_to_none=True)
            value.backward()
            optimiser.step()
            total, count = total + value.item() * len(targets), count + len(targets)
        scheduler.step()
        message = f"epoch {epoch}/{config.epochs}  loss {total / max(count, 1):.4f}"
        if validate is not None:
            network.eval()
            score = validate(network)
            message += f"  validation {score:.4f}"
            if score > best_score:
                best_score, best_state = score, copy.deepcopy(network.state_dict())
        log(f"{message}  {time.perf_counter() - started:.1f} s")
    if best_state is not None:
        network.load_state_dict(best_state)
    network.eval()
    return network


def minibatches(count: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A shuffled partition of ``range(count)`` into batches (the last one may be smaller)."""
    order = rng.permutation(count)
    return [order[start : start + batch_size] for start in range(0, count, batch_size)]


def quiet(message: str) -> None:
    """Log sink for ``verbose=0``: progress is dropped, errors still raise."""
