"""Shared fixtures. Tests make their own small inputs; nothing is downloaded."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from training.checkpoint import save_style
from training.model import StyleNetwork


@pytest.fixture(scope="session")
def tiny_style(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised (untrained) style checkpoint: fast, and it still changes every frame."""
    torch.manual_seed(0)
    model = StyleNetwork(base_channels=8, dim=16, depth=1, heads=2)
    path = tmp_path_factory.mktemp("styles") / "tiny.safetensors"
    return save_style(model, path, name="tiny", description="random weights for tests")
