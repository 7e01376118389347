"""Loss terms: each one measures what its name says on small known tensors."""
from __future__ import annotations

import torch

from training import losses
from training.features import RandomMultiScaleFeatures
from training.losses import CameraMotion
from training.model import StyleNetwork


def test_gram_matrix_is_channel_cooccurrence_independent_of_size():
    ones = torch.ones(1, 2, 4, 4)
    ones[:, 1] = 2.0
    expected = torch.tensor([[[1.0, 2.0], [2.0, 4.0]]])
    assert torch.allclose(losses.gram_matrix(ones), expected)
    assert torch.allclose(losses.gram_matrix(torch.ones(1, 2, 16, 8) * ones[:, :, :1, :1]), expected)


def test_style_loss_zero_for_the_style_itself_and_larger_for_another_texture():
    features = RandomMultiScaleFeatures(channels=8)
    stripes = (torch.arange(64).view(1, 1, 1, 64).expand(1, 3, 64, 64) // 4 % 2).float()
    flat = torch.full((1, 3, 64, 64), 0.5)
    target = [losses.gram_matrix(f) for f in features(stripes)["style"]]
    assert losses.style_loss(features(stripes)["style"], target) < 1e-8
    assert losses.style_loss(features(flat)["style"], target) > 1e-3


def test_content_and_tv():
    features = RandomMultiScaleFeatures(channels=8)
    image = torch.rand(1, 3, 32, 32)
    same = features(image)["content"]
    assert losses.content_loss(same, same) == 0
    assert losses.content_loss(features(image.flip(-1))["content"], same) > 0
    assert losses.total_variation(torch.full((1, 3, 8, 8), 0.3)) == 0
    assert losses.total_variation(torch.rand(1, 3, 8, 8)) > 0.1


def test_camera_motion_moves_the_picture_by_its_flow():
    image = torch.rand(1, 3, 32, 32)
    shift = CameraMotion(flow=torch.tensor([2.0, 3.0]).view(1, 2, 1, 1).expand(1, 2, 32, 32), noise=0.0, gain=1.0)
    moved = shift.next_frame(image)
    assert torch.allclose(moved[..., :-3, :-2], image[..., 3:, 2:], atol=1e-5)  # pixel (y, x) came from (y+3, x+2)
    visible = shift.visible(32, 32)
    assert visible[0, 0, :28, :29].all() and not visible[0, 0, 30:, :].any()
    torch.manual_seed(0)
    smooth = CameraMotion.random(2, 64, max_shift=10.0, wobble=2.0)
    assert smooth.flow.shape == (2, 2, 64, 64) and smooth.flow.abs().max() < 20
    local = smooth.flow - smooth.flow.mean(dim=(2, 3), keepdim=True)
    assert (local[..., 1:, :] - local[..., :-1, :]).abs().mean() < 0.3  # smooth: neighbours move alike


def test_temporal_loss_zero_for_a_motion_equivariant_map_and_positive_otherwise():
    canvas = torch.rand(1, 3, 32, 32)
    shift = CameraMotion(flow=torch.tensor([2.0, 3.0]).view(1, 2, 1, 1).expand(1, 2, 32, 32), noise=0.0, gain=1.0)
    moved = shift.next_frame(canvas)
    assert losses.temporal_loss(moved, canvas, shift) < 1e-6  # the identity moves with the picture
    torch.manual_seed(0)
    network = StyleNetwork(base_channels=8, dim=16, depth=1, heads=2)
    assert losses.temporal_loss(network(moved) * 0 + 0.5, network(canvas), shift) > 1e-3
    noisy = CameraMotion(flow=torch.zeros(1, 2, 32, 32), noise=0.05, gain=1.1).next_frame(canvas)
    assert (noisy - canvas).abs().mean() > 0.02


def test_colour_loss_prefers_the_style_palette():
    torch.manual_seed(0)
    palette = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]]).repeat(100, 1)
    same = palette[torch.randperm(300)].T.reshape(1, 3, 10, 30)
    grey = torch.full((1, 3, 10, 30), 0.5)
    assert losses.colour_loss(same, palette) < 1e-6
    assert losses.colour_loss(grey, palette) > 0.02


def test_adversarial_losses_hinge_and_lsgan():
    confident_real, confident_fake = [torch.full((2, 1, 4, 4), 2.0)], [torch.full((2, 1, 4, 4), -2.0)]
    assert losses.discriminator_loss(confident_real, confident_fake, "hinge") == 0
    assert losses.discriminator_loss(confident_fake, confident_real, "hinge") == 6.0
    assert losses.generator_adversarial_loss(confident_fake, "hinge") == 2.0
    assert losses.discriminator_loss([torch.ones(1, 1, 2, 2)], [torch.zeros(1, 1, 2, 2)], "lsgan") == 0
    assert losses.generator_adversarial_loss([torch.ones(1, 1, 2, 2)], "lsgan") == 0
