"""Heart-sound networks: output shapes for any batch and length, and the attention pooling."""

from __future__ import annotations

import pytest
import torch

from models.pcg.networks import NETWORKS, AttentionPooling, build_network

OUTPUTS, METADATA = 5, 11
SMALL = {"cnn4": (), "cnn-attention": (), "rnn-attention": (16, 32, 16)}


@pytest.mark.parametrize("name", sorted(NETWORKS))
@pytest.mark.parametrize(("batch", "frames"), [(1, 16), (3, 126), (2, 301)])
def test_logits_have_one_row_per_example(name: str, batch: int, frames: int) -> None:
    torch.manual_seed(0)
    options = {"widths": SMALL[name]} if SMALL[name] else {}
    network = build_network(name, num_outputs=OUTPUTS, num_metadata=METADATA, **options).eval()
    logits = network(torch.randn(batch, 64, frames), torch.randn(batch, METADATA))
    assert logits.shape == (batch, OUTPUTS)
    assert torch.isfinite(logits).all()


def test_the_recurrent_network_has_the_papers_layers_by_default() -> None:
    network = build_network("rnn-attention", num_outputs=OUTPUTS, num_metadata=METADATA)
    assert [layer.hidden_size for layer in network.layers] == [256, 1024, 256]
    logits = network(torch.randn(2, 64, 20), torch.randn(2, METADATA))
    assert logits.shape == (2, OUTPUTS)


def test_the_attention_network_has_the_papers_channels() -> None:
    network = build_network("cnn-attention", num_outputs=OUTPUTS, num_metadata=METADATA)
    convs = [m.out_channels for m in network.modules() if isinstance(m, torch.nn.Conv2d)]
    pools = [m for m in network.modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert convs == [64, 128, 256, 256] and len(pools) == 4


def test_metadata_changes_the_logits() -> None:
    torch.manual_seed(0)
    network = build_network("cnn4", num_outputs=OUTPUTS, num_metadata=METADATA).eval()
    spectrogram = torch.randn(1, 64, 64)
    first = network(spectrogram, torch.zeros(1, METADATA))
    second = network(spectrogram, torch.ones(1, METADATA))
    assert not torch.allclose(first, second)


def test_attention_pooling_is_a_weighted_mean_of_the_position_scores() -> None:
    torch.manual_seed(0)
    pooling = AttentionPooling(channels=8, classes=3)
    features = torch.randn(2, 8, 40)
    pooled = pooling(features)
    scores = pooling.scores(features)
    assert pooled.shape == (2, 3)
    assert (pooled <= scores.max(dim=2).values + 1e-6).all()
    assert (pooled >= scores.min(dim=2).values - 1e-6).all()
    constant = features[:, :, :1].expand(-1, -1, 40)
    torch.testing.assert_close(pooling(constant), pooling.scores(constant)[:, :, 0])


def test_attention_pooling_follows_the_weights() -> None:
    pooling = AttentionPooling(channels=1, classes=1)
    with torch.no_grad():
        pooling.scores.weight.fill_(1.0)
        pooling.scores.bias.zero_()
        pooling.weights.weight.fill_(20.0)
        pooling.weights.bias.zero_()
    features = torch.tensor([[[-1.0, -1.0, -1.0, 2.0]]])
    assert pooling(features).item() == pytest.approx(2.0, abs=1e-3)


def test_unknown_network_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="cnn-attention, cnn4, rnn-attention"):
        build_network("resnet", num_outputs=OUTPUTS, num_metadata=METADATA)
