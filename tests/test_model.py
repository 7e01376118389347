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


def described_forward(model: StyleNetwork, x: torch.Tensor) -> torch.Tensor:
    """What the modules say, step by step: space-to-depth + conv, ..., bilinear x2 + mirrored 3x3 output conv,
    and a 2-D Gaussian for the detail. The shipped networks were trained with this form."""
    import torch.nn.functional as F

    from training.model import PAD_MULTIPLE, upsample2

    h, w = x.shape[-2:]
    x = F.pad(x * 2 - 1, (0, (-w) % PAD_MULTIPLE, 0, (-h) % PAD_MULTIPLE), mode="replicate")
    half = model.encode_half(x)
    quarter = model.encode_quarter(half)
    tokens = model.blocks(model.down(quarter))
    quarter = model.quarter_decoder(quarter + upsample2(model.to_quarter(tokens)))
    half = model.half_decoder(half + upsample2(model.to_half(quarter)))
    y = torch.sigmoid(model.output(torch.cat([upsample2(model.to_full(half)), x], dim=1)))
    if model.detail:
        luma, taps = F.conv2d(x, model.luma_weights), model.blur.numel()
        blur = (model.blur[:, None] * model.blur[None, :]).view(1, 1, taps, taps)
        detail = luma - F.conv2d(F.pad(luma, (taps // 2,) * 4, mode="reflect"), blur)
        y = (y + model.detail / 100 * detail).clamp(0, 1)
    return y[..., :h, :w]


def test_the_fast_forward_computes_what_the_modules_describe():
    """The full-size steps run rewritten (one 6x6 conv for space-to-depth + conv; the output conv per pixel phase at
    half size). Inside the picture that is the same arithmetic; only the outermost pixel ring may differ, a little.
    Gradients reach the original parameters, so training and every checkpoint use the one form."""
    from training.checkpoint import load_style

    torch.manual_seed(0)
    shipped, _ = load_style("mosaic")
    model = StyleNetwork(**{**shipped.architecture, "detail": 50}).eval()
    model.load_state_dict(shipped.state_dict())
    for h, w in [(48, 64), (37, 53), (16, 24)]:
        x = torch.rand(1, 3, h, w)
        with torch.no_grad():
            fast, described = model(x), described_forward(model, x)
            with model.kernels_fixed():
                fixed = model(x)
        difference = (fast - described).abs()[0]
        assert difference[:, 1:-1, 1:-1].max() < 1e-5, (h, w)
        assert difference.max() < 0.1 and difference.max() > 0, (h, w)  # the ring: extended, not mirrored
        assert torch.equal(fixed, fast)
    model.train()
    model(torch.rand(1, 3, 32, 32)).mean().backward()
    assert model.output[1].weight.grad.abs().sum() > 0 and model.encode_half[1][1].weight.grad.abs().sum() > 0
