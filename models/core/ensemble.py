"""Several networks trained on different folds, answering as one.

A network trained on a few hundred records is sensitive to which ones it saw; networks trained
on K folds of them, each choosing its epoch on the fold it did not see, average out much of
that (the pipeline tunes the ensemble's decisions on every item's out-of-fold outputs). The
members' outputs (logits) are averaged, so every task scores an ensemble exactly as it scores
one network.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class Ensemble(nn.Module):
    """The mean of ``members``' outputs: a tensor, or a tuple of tensors averaged place by
    place (networks with several heads)."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        outputs = [member(*inputs) for member in self.members]
        if isinstance(outputs[0], torch.Tensor):
            return torch.stack(outputs).mean(dim=0)
        return tuple(torch.stack(parts).mean(dim=0) for parts in zip(*outputs, strict=True))
