"""Generator and discriminator shapes, ranges and gradients."""
from __future__ import annotations

import torch

from training.model import PatchDiscriminator, StyleNetwork, count_parameters


def test_generator_keeps_any_size_and_range():
    torch.manual_seed(0)
    model = StyleNetwork(base_channels=8, dim=16, depth=1, heads=2).eval()
    for h, w in [(17, 31), (64, 48)]:
        y = model(torch.rand(2, 3, h, w))
        assert y.shape == (2, 3, h, w) and 0.0 <= y.min() and y.max() <= 1.0
    assert count_parameters(StyleNetwork()) < 1_000_000


def test_patch_discriminator_is_multiscale_and_spectrally_normalised():
    torch.manual_seed(0)
    disc = PatchDiscriminator(channels=8, layers=2, scales=2)
    logits = disc(torch.rand(2, 3, 64, 64))
    assert [tuple(l.shape) for l in logits] == [(2, 1, 16, 16), (2, 1, 8, 8)]
    conv = disc.heads[0][0]
    assert hasattr(conv, "weight_orig")  # spectral norm wraps every conv
    sum(l.mean() for l in logits).backward()
    assert conv.weight_orig.grad is not None and conv.weight_orig.grad.abs().sum() > 0


def test_detail_passes_the_inputs_finest_detail_through_and_nothing_else():
    """`detail` adds a fixed high-pass of the input's luminance: nothing on a flat picture, the same weights
    otherwise, and 0 is exactly the plain network (the shipped styles' graph)."""
    torch.manual_seed(0)
    plain, detailed = StyleNetwork(), StyleNetwork(detail=50)
    detailed.load_state_dict(plain.state_dict())  # the pass-through has no weights of its own
    assert "detail" not in plain.architecture and detailed.architecture["detail"] == 50
    flat = torch.full((1, 3, 40, 56), 0.4)
    noisy = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        assert torch.allclose(detailed(flat), plain(flat), atol=1e-6)
        change = (detailed(noisy) - plain(noisy)).abs().mean()
    assert change > 0.02
