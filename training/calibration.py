"""Fold-time colour calibration: a picture's folded network, moved to the painting's mean colour.

Why: the conditional network follows a new painting's palette only loosely; its mean output colour lands off
the painting's on some (on the held-out paintings palette beat the peer on 12 of 15 without this, 14 with it,
bench/results/arbitrary.md). Only the output layer's bias moves, one shift per colour channel, so strokes,
contrast and steadiness stay what the network draws. Each shift solves "mean over the calibration photos of
sigmoid(logit + shift) = the painting's mean" exactly (monotonic: bisection), so it is smooth in the target
and in the network, and a blend sweep stays smooth. The painting's mean colour is the style code's own
(style_code.colour_statistics), so a blend's target is the blend of its pictures' means.
"""
from __future__ import annotations

import logging
from functools import lru_cache

import torch

from common.errors import UserError
from styles import STYLES_DIR
from training.model import StyleNetwork

log = logging.getLogger(__name__)

CALIBRATION_DIR = STYLES_DIR / "calibration"
SHIFT_LIMIT = 12.0  # logits: past this the sigmoid is flat (a pure black or white painting)
BISECTION_STEPS = 40  # halves of [-SHIFT_LIMIT, SHIFT_LIMIT]: ~2e-11 of a logit


@lru_cache(maxsize=1)
def calibration_photos() -> tuple[torch.Tensor, ...]:
    """The shipped calibration photos as 1x3xHxW float tensors in [0, 1] (read once per process)."""
    from training.data import read_image

    images = [read_image(path) for path in sorted(CALIBRATION_DIR.glob("*.jpg"))]
    if not images or any(image is None for image in images):
        raise UserError(f"the calibration photos in {CALIBRATION_DIR} are missing or damaged: reinstall stylecast")
    return tuple(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0 for image in images)


@torch.no_grad()
def mean_colour_shift(network: StyleNetwork, target: torch.Tensor) -> torch.Tensor:
    """Per-channel logit shifts (3) that give `network` the mean RGB `target` (3, in [0, 1]) on the photos."""
    logits = torch.cat([network.colour_logits(photo).flatten(2) for photo in calibration_photos()], dim=2)[0]
    low = torch.full((3,), -SHIFT_LIMIT)
    high = torch.full((3,), SHIFT_LIMIT)
    target = target.to(logits.dtype).clamp(0.0, 1.0)
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2
        too_bright = torch.sigmoid(logits + middle[:, None]).mean(dim=1) > target
        high = torch.where(too_bright, middle, high)
        low = torch.where(too_bright, low, middle)
    return (low + high) / 2


@torch.no_grad()
def calibrate_mean_colour(network: StyleNetwork, target: torch.Tensor) -> torch.Tensor:
    """Fold `mean_colour_shift` into the output layer's bias (in place); returns the shift."""
    network.eval()
    shift = mean_colour_shift(network, target)
    if bool((shift.abs() >= SHIFT_LIMIT - 1e-3).any()):
        log.warning("the network's colours cannot reach the style's mean colour (shift %s at its limit): its output "
                    "is saturated; the style may come out as one flat colour", [round(float(v), 2) for v in shift])
    network.output[1].bias += shift
    return shift
