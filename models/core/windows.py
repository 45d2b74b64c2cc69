"""Windows of signals: random training windows in batches, and inference over sliding windows
in bounded batches.

Every task trains on random fixed-length windows of its items and scores a recording as the
mean of its network outputs over half-overlapping windows. The windows are cut a batch at a
time, so a 30-minute recording needs the memory of one batch of windows (plus the signal and
its preparation), as a 1-minute one does (``bench/memory.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from models.core.signal import fit_length, random_crop
from models.core.training import Batches, minibatches
from models.core.training_errors import NamedBatch

WINDOW_BATCH = 64  # windows per inference batch: the bound on inference memory


def window_starts(total: int, length: int, hop: int) -> list[int]:
    """Start of every window of ``length`` every ``hop`` samples covering ``total`` samples.

    The last window is aligned to the end so no sample is left out; a signal no longer than
    one window gives the single start 0 (the window is zero-padded).
    """
    if total <= length:
        return [0]
    starts = list(range(0, total - length + 1, hop))
    if starts[-1] != total - length:
        starts.append(total - length)
    return starts


def window_batches(
    signal: np.ndarray, length: int, hop: int, batch_size: int = WINDOW_BATCH
) -> Iterator[np.ndarray]:
    """The windows of ``signal`` (last axis is time), ``batch_size`` at a time."""
    starts = window_starts(signal.shape[-1], length, hop)
    for first in range(0, len(starts), batch_size):
        chunk = starts[first : first + batch_size]
        yield np.stack([fit_length(signal[..., s : s + length], length) for s in chunk])


@torch.no_grad()
def mean_over_windows(
    score: Callable[[torch.Tensor], torch.Tensor],
    signal: np.ndarray,
    length: int,
    device: torch.device,
    batch_size: int = WINDOW_BATCH,
) -> np.ndarray:
    """Mean of ``score(windows)`` (one row per window) over the half-overlapping windows of
    ``signal``, computed one batch of windows at a time."""
    total, count = None, 0
    for windows in window_batches(signal, length, length // 2, batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)).to(device)
        part = score(batch).sum(dim=0)
        total = part if total is None else total + part
        count += len(windows)
    return (total / count).cpu().numpy()


def random_window_batches(
    signal_of: Callable[[int], np.ndarray],
    length: int,
    batch_size: int,
    targets: np.ndarray,
    extras: Sequence[np.ndarray] = (),
    draw: Callable[[np.random.Generator], np.ndarray] | None = None,
    transform: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
    names: Sequence[str] = (),
) -> Batches:
    """An epoch of one random window per drawn item, in shuffled batches.

    ``draw`` gives the epoch's item indices (repeats allowed; default every item once);
    ``signal_of(i)`` the item's signal, ``targets[i]`` its target and ``extras`` per-item
    inputs passed beside the windows (metadata); ``transform`` alters a batch of windows
    (augmentation); ``names[i]`` the item's name, which each batch carries so a training
    step that fails can name its items. The epoch's generator draws the items, the batches,
    the crops and the transform in that order, so a resumed epoch repeats them exactly.
    """
    count = len(targets)

    def batches(rng: np.random.Generator) -> Iterator:
        order = np.arange(count) if draw is None else draw(rng)
        for batch in minibatches(len(order), batch_size, rng):
            chosen = order[batch]
            crops = [random_crop(signal_of(int(i)), length, rng) for i in chosen]
            windows = np.stack(crops).astype(np.float32, copy=False)
            if transform is not None:
                windows = transform(windows, rng)
            inputs = (torch.from_numpy(windows), *(torch.from_numpy(e[chosen]) for e in extras))
            items = [names[i] for i in chosen] if names else ()
            yield NamedBatch(inputs, torch.from_numpy(targets[chosen]), items)

    return batches
