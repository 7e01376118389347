"""Inference backends behind one small interface, and the one place that picks a backend.

Frames are HxWx3 uint8 RGB numpy arrays in and out. `strength` blends the stylized frame with
the original (0 = original, 1 = fully stylized), done where the data already is.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import torch

from common.errors import UserError
from training.checkpoint import StyleInfo, load_style

BACKENDS = ("auto", "pytorch-cpu")


class Stylizer(ABC):
    """Stylizes one frame at a time; `load_style` swaps the style without rebuilding the stream."""

    name: str = "?"
    info: StyleInfo

    @abstractmethod
    def load_style(self, style: str | Path) -> StyleInfo:
        """Switch to another style (shipped name or checkpoint path)."""

    @abstractmethod
    def __call__(self, frame: np.ndarray, strength: float = 1.0) -> np.ndarray:
        """frame: HxWx3 uint8 RGB -> HxWx3 uint8 RGB of the same size."""


class TorchCPUStylizer(Stylizer):
    """Plain PyTorch on the CPU: always available, the reference the others are checked against."""

    name = "pytorch-cpu"

    def __init__(self, style: str | Path):
        self.load_style(style)

    def load_style(self, style: str | Path) -> StyleInfo:
        self.model, self.info = load_style(style, "cpu")
        return self.info

    @torch.inference_mode()
    def __call__(self, frame: np.ndarray, strength: float = 1.0) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float().div_(255.0)
        y = self.model(x)
        if strength < 1.0:
            y = torch.lerp(x, y, float(strength))
        return y[0].permute(1, 2, 0).mul_(255.0).add_(0.5).clamp_(0, 255).to(torch.uint8).numpy()


def create_stylizer(style: str | Path, backend: str = "auto") -> Stylizer:
    """The one place that picks a backend; 'auto' takes the fastest one available here."""
    if backend in ("auto", "pytorch-cpu"):
        return TorchCPUStylizer(style)
    raise UserError(f"unknown backend '{backend}' (choose from: {', '.join(BACKENDS)})")
