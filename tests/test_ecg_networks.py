"""Shapes and wiring of the ECG networks for the full and the smallest lead set."""

from __future__ import annotations

import pytest
import torch

from models.ecg.networks import NETWORKS, ClassWiseAttention, build_network, same_conv

CLASSES, METADATA, SAMPLES = 26, 11, 2500


@pytest.mark.parametrize("name", ["resnet-cwa", "resnet-gskip"])
@pytest.mark.parametrize("leads", [12, 2])
def test_one_logit_per_class(name: str, leads: int) -> None:
    network = build_network(name, num_outputs=CLASSES, num_metadata=METADATA, num_leads=leads)
    logits = network.eval()(torch.randn(3, leads, SAMPLES), torch.randn(3, METADATA))
    assert logits.shape == (3, CLASSES)
    assert torch.isfinite(logits).all()


def test_cwa_has_nine_blocks_growing_by_32_filters_and_halving_kernels() -> None:
    network = build_network("resnet-cwa", num_outputs=CLASSES, num_metadata=0, num_leads=12)
    convolutions = [block.body[0][1] for block in network.blocks]
    assert [conv.out_channels for conv in convolutions] == [32] * 3 + [64] * 3 + [96] * 3
    assert [conv.kernel_size[0] for conv in convolutions] == [32] * 3 + [16] * 3 + [8] * 3
    assert network.wide is None


def test_even_kernels_keep_the_length() -> None:
    assert same_conv(2, 4, 32)(torch.randn(1, 2, 101)).shape == (1, 4, 101)


def test_class_wise_attention_weighs_time_per_class() -> None:
    attention = ClassWiseAttention(channels=4, num_outputs=3)
    maps = torch.zeros(1, 4, 50)
    maps[0, :, 10] = 5.0
    with torch.no_grad():
        attention.scores.weight.zero_()
        attention.scores.bias.zero_()
        attention.scores.weight[1] = 10.0
        uniform = (maps.mean(dim=-1)[:, None] * attention.weight).sum(dim=-1) + attention.bias
        logits = attention(maps)
    assert logits[0, 0] == pytest.approx(uniform[0, 0].item(), abs=1e-5)
    assert abs(logits[0, 1].item()) > abs(uniform[0, 1].item())


def test_gskip_uses_age_and_sex() -> None:
    network = build_network("resnet-gskip", num_outputs=CLASSES, num_metadata=4, num_leads=12)
    signal = torch.randn(1, 12, SAMPLES)
    network.eval()
    older, younger = torch.tensor([[0.8, 0, 1, 0]]), torch.tensor([[0.2, 0, 0, 1]])
    assert not torch.allclose(network(signal, older), network(signal, younger))


def test_unknown_network_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="resnet-cwa"):
        build_network("nope", num_outputs=2, num_metadata=0, num_leads=12)
    assert {"resnet-cwa", "resnet-gskip"} <= set(NETWORKS)
