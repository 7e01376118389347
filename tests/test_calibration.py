"""Fold-time colour calibration: a picture's network is moved to the painting's mean colour, and nothing else."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from training.calibration import calibrate_mean_colour, calibration_photos
from training.checkpoint import load_style
from training.model import StyleNetwork
from training.style_code import EMBEDDING_SIZE, style_code
from training.style_spec import materialize


def mean_output(network: StyleNetwork) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([network(photo).flatten(2) for photo in calibration_photos()], dim=2)[0].mean(dim=1)


def test_the_shipped_photos_are_real_photos():
    photos = calibration_photos()
    assert len(photos) == 6
    for photo in photos:
        assert min(photo.shape[-2:]) == 128 and float(photo.std()) > 0.1  # not flat, not tiny


@pytest.mark.parametrize("target", [(0.2, 0.5, 0.8), (0.9, 0.1, 0.3), (0.0, 1.0, 0.5)])
def test_only_the_output_bias_moves_and_the_mean_lands_on_the_target(target):
    torch.manual_seed(0)
    network = StyleNetwork().eval()
    before = {name: value.clone() for name, value in network.state_dict().items()}
    target = torch.tensor(target)
    shift = calibrate_mean_colour(network, target)
    after = network.state_dict()
    assert [name for name in before if not torch.equal(before[name], after[name])] == ["output.1.bias"]
    assert torch.allclose(after["output.1.bias"] - before["output.1.bias"], shift)
    reachable = (target > 0.02) & (target < 0.98)  # a pure 0 or 1 is out of the sigmoid's reach: as near as it gets
    assert torch.allclose(mean_output(network)[reachable], target[reachable], atol=1 / 255)
    assert torch.isfinite(shift).all() and bool((shift.abs() <= 12).all())


def test_the_calibration_is_its_own_fixed_point():
    torch.manual_seed(1)
    network = StyleNetwork().eval()
    calibrate_mean_colour(network, torch.tensor([0.3, 0.4, 0.6]))
    assert float(calibrate_mean_colour(network, mean_output(network)).abs().max()) < 1e-3


def test_a_folded_picture_has_the_paintings_mean_colour(tmp_path, monkeypatch):
    """Through the product's path (the shipped conditional network): the folded picture's mean output on the
    calibration photos is the painting's mean colour, and the checkpoint says by how much it moved."""
    monkeypatch.setenv("STYLECAST_CACHE", str(tmp_path / "cache"))
    painting = np.zeros((96, 128, 3), np.uint8)
    painting[:, :64] = (200, 60, 40)  # half brick red, half deep blue
    painting[:, 64:] = (30, 50, 160)
    path = tmp_path / "painting.png"
    cv2.imwrite(str(path), painting[..., ::-1])
    checkpoint = materialize(str(path))
    network, _ = load_style(checkpoint)
    target = torch.from_numpy(style_code(painting)[EMBEDDING_SIZE:EMBEDDING_SIZE + 3])
    assert torch.allclose(target, torch.tensor([115, 55, 100]) / 255, atol=1e-3)
    # the detail pass-through adds the photos' own fine detail: close to zero on average, not exactly
    assert torch.allclose(mean_output(network), target, atol=3 / 255)
    shift = json.loads(checkpoint.with_suffix(".json").read_text(encoding="utf-8"))["training"]["colour_shift"]
    assert len(shift) == 3 and max(abs(v) for v in shift) > 0.01
