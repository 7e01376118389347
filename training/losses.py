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
    """How much each term counts in the generator's objective (see `stream.py train --help`).

    Style is the mean over layers of each layer's Gram MSE divided by its target's mean square, so
    every layer counts alike whatever its scale; 100 gave real tiles in experiments (30 stayed two-tone).
    Colour keeps the style image's palette: at 50 mosaic still collapsed to orange/teal, at 300 it kept
    its many hues. Content 4: at 2 faces faded as training went on (harness content 0.41 -> 0.33).
    """

    content: float = 4.0
    style: float = 100.0
    colour: float = 300.0
    tv: float = 0.1
    temporal: float = 10.0
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
    """Mean over layers of the Gram MSE relative to the target Gram's mean square (target Grams: 1xCxC).

    Relative, because raw Gram sizes differ by orders of magnitude between layers and networks: without
    it one layer decides everything and a style weight means something else for every feature network.
    """
    total = output_features[0].new_zeros((), dtype=torch.float32)
    for features, target in zip(output_features, target_grams):
        gram = gram_matrix(features)
        total = total + F.mse_loss(gram, target.expand_as(gram)) / target.pow(2).mean().clamp_min(1e-12)
    return total / len(target_grams)


def colour_loss(output: torch.Tensor, palette: torch.Tensor, samples: int = 4096, projections: int = 16) -> torch.Tensor:
    """Sliced Wasserstein distance between the output's pixel colours and the style image's (Heitz et al. 2021).

    output: Bx3xHxW in [0, 1]; palette: Nx3 colours of the style image. Matches the whole colour
    distribution, not only its mean and correlations, so a many-coloured style stays many-coloured.
    """
    pixels = output.float().permute(0, 2, 3, 1).reshape(-1, 3)
    if pixels.shape[0] > samples:
        pixels = pixels[torch.randperm(pixels.shape[0], device=pixels.device)[:samples]]
    directions = F.normalize(torch.randn(3, projections, device=pixels.device), dim=0)
    projected, _ = torch.sort(pixels @ directions, dim=0)
    # the style's projections at the same quantiles as the output's pixels (all of the palette, no resampling)
    expected, _ = torch.sort(palette.float().to(pixels.device) @ directions, dim=0)
    n, total = projected.shape[0], expected.shape[0]
    at = ((torch.arange(n, device=pixels.device) + 0.5) * total / n).long().clamp_max(total - 1)
    return F.mse_loss(projected, expected[at])


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


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(2.5 * sigma))
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype) / sigma) ** 2)
    taps = taps / taps.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), taps.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), taps.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


@dataclass
class CameraMotion:
    """A synthetic next video frame (ReReVST, Wang et al. 2020): the same picture moved by a smooth random
    flow (a global shift plus local wobble), with pixel noise and a brightness change.

    flow: Bx2xHxW, in px, (dx, dy) from each next-frame pixel back to where it was in this frame.
    """

    flow: torch.Tensor
    noise: float
    gain: float

    @classmethod
    def random(cls, batch: int, size: int, max_shift: float = 10.0, wobble: float = 2.0, sigma: float = 8.0,
               max_noise: float = 0.03, max_gain: float = 0.08, device: torch.device | str = "cpu") -> "CameraMotion":
        shift = (torch.rand(batch, 2, 1, 1, device=device) * 2 - 1) * max_shift
        local = _blur(torch.randn(batch, 2, size, size, device=device), sigma)
        local = local / local.std().clamp_min(1e-6) * wobble * random.random()
        return cls(shift + local, random.uniform(0.0, max_noise), 1.0 + random.uniform(-max_gain, max_gain))

    def _grid(self, h: int, w: int) -> torch.Tensor:
        ys, xs = torch.meshgrid(torch.arange(h, device=self.flow.device, dtype=torch.float32),
                                torch.arange(w, device=self.flow.device, dtype=torch.float32), indexing="ij")
        x = (xs + self.flow[:, 0]) * (2.0 / w) - 1.0 + 1.0 / w  # align_corners=False pixel centres
        y = (ys + self.flow[:, 1]) * (2.0 / h) - 1.0 + 1.0 / h
        return torch.stack([x, y], dim=-1)

    def warp(self, image: torch.Tensor) -> torch.Tensor:
        """Move `image` (BxCxHxW) the way the camera moved."""
        grid = self._grid(*image.shape[-2:]).to(image.dtype)
        return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def visible(self, h: int, w: int) -> torch.Tensor:
        """Bx1xHxW mask of next-frame pixels whose source lies inside this frame (not made up at the border)."""
        grid = self._grid(h, w)
        return (grid.abs() <= 1.0 - 1.0 / max(h, w)).all(dim=-1, keepdim=True).permute(0, 3, 1, 2).float()

    def next_frame(self, image: torch.Tensor) -> torch.Tensor:
        moved = self.warp(image)
        return (moved * self.gain + torch.randn_like(moved) * self.noise).clamp(0.0, 1.0)


def temporal_loss(next_output: torch.Tensor, clean_output: torch.Tensor, motion: CameraMotion) -> torch.Tensor:
    """L1 between the output of the next frame and the clean output moved the same way, where both are
    defined: the stylization must move with the picture and ignore noise/brightness flicker. The clean
    output is detached: it is the target, not something to pull towards the perturbed one."""
    target = motion.warp(clean_output.detach().float())
    mask = motion.visible(*clean_output.shape[-2:])
    return ((next_output.float() - target).abs() * mask).sum() / (mask.sum() * 3).clamp_min(1.0)


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
