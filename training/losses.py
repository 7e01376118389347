"""Loss terms for training a style: content, style (Gram), total variation, temporal stability, adversarial.

Shapes: images are Bx3xHxW float in [0, 1]; feature maps BxCxHxW; Gram matrices BxCxC.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


@dataclass
class LossWeights:
    """How much each term counts in the generator's objective (see `stream.py train --help`)."""

    content: float = 1.0
    style: float = 30.0
    tv: float = 1.0
    temporal: float = 20.0
    adversarial: float = 0.05

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """BxCxHxW -> BxCxC channel co-occurrence, normalised by H*W so it does not depend on image size.

    Computed in FP32: under AMP the H*W-long dot products overflow FP16.
    """
    b, c, h, w = features.shape
    flat = features.float().reshape(b, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2)) / (h * w)


def style_loss(output_features: list[torch.Tensor], target_grams: list[torch.Tensor]) -> torch.Tensor:
    """Mean over layers of the squared Gram distance; target Grams are 1xCxC (the style image)."""
    total = output_features[0].new_zeros((), dtype=torch.float32)
    for features, target in zip(output_features, target_grams):
        gram = gram_matrix(features)
        total = total + F.mse_loss(gram, target.expand_as(gram))
    return total / len(target_grams)


def content_loss(output_features: list[torch.Tensor], input_features: list[torch.Tensor]) -> torch.Tensor:
    """Mean squared feature distance between the stylized output and its input photo."""
    total = output_features[0].new_zeros((), dtype=torch.float32)
    for out, ref in zip(output_features, input_features):
        total = total + F.mse_loss(out.float(), ref.float())
    return total / len(output_features)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels: discourages high-frequency speckle."""
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
    return dx + dy


@dataclass
class Perturbation:
    """A small camera change between two video frames: integer shift (px), pixel noise (std), brightness gain."""

    dy: int
    dx: int
    noise: float
    gain: float

    @classmethod
    def random(cls, max_shift: int = 4, max_noise: float = 0.03, max_gain: float = 0.08) -> "Perturbation":
        return cls(random.randint(0, max_shift), random.randint(0, max_shift),
                   random.uniform(0.0, max_noise), 1.0 + random.uniform(-max_gain, max_gain))

    def next_frame(self, canvas: torch.Tensor, size: int) -> torch.Tensor:
        """The 'next video frame' of the clean input `canvas[..., :size, :size]`: the same picture moved by
        (dy, dx) px, plus pixel noise and a brightness change. `canvas` is at least size + max_shift px."""
        moved = canvas[..., self.dy:self.dy + size, self.dx:self.dx + size]
        return (moved * self.gain + torch.randn_like(moved) * self.noise).clamp(0.0, 1.0)


def temporal_loss(next_output: torch.Tensor, clean_output: torch.Tensor, perturbation: Perturbation) -> torch.Tensor:
    """L1 between the output of the next frame and the clean output moved the same way, on their overlap:
    the stylization must move with the picture and ignore noise/brightness flicker. The clean output is
    detached: it is the target, not something to pull towards the perturbed one."""
    size_y, size_x = clean_output.shape[-2:]
    p = perturbation
    return F.l1_loss(next_output[..., : size_y - p.dy, : size_x - p.dx].float(),
                     clean_output[..., p.dy:, p.dx:].detach().float())


# --- adversarial ------------------------------------------------------------------------------------

def discriminator_loss(real_logits: list[torch.Tensor], fake_logits: list[torch.Tensor], kind: str) -> torch.Tensor:
    """Hinge: relu(1 - D(real)) + relu(1 + D(fake)); LSGAN: (D(real) - 1)^2 + D(fake)^2; averaged over scales."""
    total = real_logits[0].new_zeros((), dtype=torch.float32)
    for real, fake in zip(real_logits, fake_logits):
        real, fake = real.float(), fake.float()
        if kind == "hinge":
            total = total + F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
        else:
            total = total + (real - 1.0).pow(2).mean() + fake.pow(2).mean()
    return total / len(real_logits)


def generator_adversarial_loss(fake_logits: list[torch.Tensor], kind: str) -> torch.Tensor:
    """Hinge: -D(fake); LSGAN: (D(fake) - 1)^2; averaged over scales."""
    total = fake_logits[0].new_zeros((), dtype=torch.float32)
    for fake in fake_logits:
        fake = fake.float()
        total = total + (-fake.mean() if kind == "hinge" else (fake - 1.0).pow(2).mean())
    return total / len(fake_logits)
