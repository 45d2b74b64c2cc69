"""Grad-CAM for the kit's networks without attention, on the windows inference scored.

Grad-CAM (Selvaraju et al.) weighs each channel of a convolutional stage's output by the mean
gradient of the explained score over its positions, sums the channels and keeps the positive
part: the places whose features, as the network weighs them, raise the score. The stage is the
last convolutional one, where features are most specific to the classes, chosen per network
type in :data:`LAST_STAGES` and nowhere else.

The maps are computed on exactly the inputs inference gave the network: :func:`recorded_calls`
runs a task's own scoring (which runs without gradients) and keeps the inputs of every call of
the network, and :func:`window_maps` then scores those windows again with gradients. An
ensemble's map is the mean of its members' maps. The explained score is a logit, never a
probability, so a window the network is sure of (a saturated softmax or sigmoid) still shows
where its evidence lies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from models.core.ensemble import Ensemble
from models.ecg.networks import ResNet1d, ResNetCwa, ResNetGskip
from models.pcg.distill_networks import ResNet18Encoder, StudentEncoder
from models.pcg.networks import Cnn4, CnnAttention

Score = Callable[[torch.Tensor], torch.Tensor]  # logits (batch, outputs) → (batch,)
Inputs = tuple[torch.Tensor, ...]

# The student's stem leaves a quarter per axis and every block halves it again, so its third
# stage is down to 1/16, as deep as the teacher's and cnn4's last; its last two blocks leave a
# 4-s window one band by four, then two, time steps: too coarse to place a heart sound in.
STUDENT_STAGE = 2


def student_stage(encoder: StudentEncoder) -> nn.Module:
    return encoder.stages[min(STUDENT_STAGE, len(encoder.stages) - 1)]


LAST_STAGES: dict[type[nn.Module], Callable[[nn.Module], nn.Module]] = {
    Cnn4: lambda body: body.features[-1],
    CnnAttention: lambda body: body.features[-1],
    ResNet1d: lambda network: network.features[-1],
    ResNetGskip: lambda network: network.stages[-1],
    ResNetCwa: lambda network: network.blocks[-1],
    ResNet18Encoder: lambda encoder: encoder.stages[-1],
    StudentEncoder: student_stage,
}


def target_layer(network: nn.Module) -> nn.Module:
    """The convolutional stage Grad-CAM reads in ``network`` (one network, not an ensemble):
    found by the type of the first known part, so wrappers (the murmur log-mel front end, the
    2016 classifier around its encoder) need no entry of their own."""
    for module in network.modules():
        pick = LAST_STAGES.get(type(module))
        if pick is not None:
            return pick(module)
    raise ValueError(f"no convolutional stage known for Grad-CAM in {type(network).__name__}")


def members(network: nn.Module) -> list[nn.Module]:
    """The networks an explanation averages: an ensemble's members, or the network itself."""
    return list(network.members) if isinstance(network, Ensemble) else [network]


@dataclass(frozen=True)
class Capture:
    """Every call's inputs and output that a forward hook kept from one module."""

    inputs: list[Inputs]
    outputs: list[torch.Tensor]

    def joined(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The first input and the output of every call, each joined along the batch."""
        return torch.cat([call[0] for call in self.inputs]), torch.cat(self.outputs)


def capture(modules: list[nn.Module], run: Callable[[], object]) -> tuple[object, list[Capture]]:
    """Call ``run`` while recording the inputs and the output of every call of each of
    ``modules``; returns what ``run`` returned and one :class:`Capture` per module."""
    kept = [Capture([], []) for _ in modules]

    def recorder(capture: Capture) -> Callable:
        def hook(_: nn.Module, inputs: Inputs, output: torch.Tensor) -> None:
            capture.inputs.append(tuple(tensor.detach() for tensor in inputs))
            capture.outputs.append(output.detach())

        return hook

    handles = [
        module.register_forward_hook(recorder(k)) for module, k in zip(modules, kept, strict=True)
    ]
    try:
        result = run()
    finally:
        for handle in handles:
            handle.remove()
    return result, kept


def recorded_calls(network: nn.Module, run: Callable[[], object]) -> tuple[object, list[Inputs]]:
    """What ``run`` returns, and the inputs of every call of ``network`` while it ran (one
    batch of windows per call, in the order inference scored them)."""
    result, (kept,) = capture([network], run)
    return result, kept.inputs


def grad_cam(network: nn.Module, inputs: Inputs, score: Score) -> torch.Tensor:
    """ReLU of the gradient-weighted channels of ``network``'s last convolutional stage, one
    map per window: (batch, positions...) at the stage's own resolution."""
    kept: list[torch.Tensor] = []

    def cut(_: nn.Module, __: Inputs, output: torch.Tensor) -> torch.Tensor:
        # The graph starts at the stage, so the layers before it cost no backward pass; the
        # clone lets later layers work in place without touching the tensor differentiated.
        kept.append(output.detach().requires_grad_(True))
        return kept[-1].clone()

    handle = target_layer(network).register_forward_hook(cut)
    try:
        with torch.enable_grad():
            explained = score(network(*inputs))
            (gradient,) = torch.autograd.grad(explained.sum(), kept[0])
    finally:
        handle.remove()
    activation = kept[0].detach()
    weights = gradient.mean(dim=tuple(range(2, gradient.dim())), keepdim=True)
    return torch.relu((weights * activation).sum(dim=1))


def upsampled(maps: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """Maps (batch, cells) or (batch, rows, cells) interpolated to (batch, *size): along time,
    and along frequency for spectrogram maps (a 1-D map becomes one row)."""
    image = maps[:, None] if maps.dim() == 3 else maps[:, None, None]
    resized = functional.interpolate(image.float(), size=size, mode="bilinear", align_corners=False)
    return resized[:, 0].cpu().numpy()


def window_maps(
    network: nn.Module, calls: list[Inputs], score: Score, size: tuple[int, int]
) -> np.ndarray:
    """Grad-CAM of every recorded window at ``size``, (windows, rows, cells); an ensemble's is
    the mean of its members' maps."""
    parts = [
        np.mean([upsampled(grad_cam(one, inputs, score), size) for one in members(network)], 0)
        for inputs in calls
    ]
    return np.concatenate(parts) if parts else np.zeros((0, *size))


def logit(index: int) -> Score:
    """One logit of a multi-label (sigmoid) head: its own evidence, whatever the other
    classes do."""
    return lambda logits: logits[:, index]


def softmax_logit(index: int, classes: slice) -> Score:
    """One logit of a softmax head ``classes``, less the mean logit of that head: a shift of
    every logit changes no probability, so only evidence for this class over the others
    counts."""
    return lambda logits: logits[:, index] - logits[:, classes].mean(dim=1)


def binary_logit(index: int) -> Score:
    """Class ``index`` of two classes: the single logit of a two-class network (class 0 is the
    positive one, class 1 its negation), or a two-way softmax head."""

    def score(logits: torch.Tensor) -> torch.Tensor:
        if logits.shape[1] == 1:
            return logits[:, 0] if index == 0 else -logits[:, 0]
        return softmax_logit(index, slice(None))(logits)

    return score
