"""The quality harness's measures (bench/metrics.py) say what their names say on pictures with known answers."""
from __future__ import annotations

import cv2
import numpy as np

from bench import metrics
from training.data import read_image, skimage_photo_paths


def photo() -> np.ndarray:
    image = next(read_image(p) for p in skimage_photo_paths() if p.name == "chelsea.png")
    return cv2.resize(image, (160, 120), interpolation=cv2.INTER_AREA)


def test_palette_distance_is_zero_for_the_same_colours_and_grows_with_a_recolouring():
    cat = photo()
    shuffled = cat.reshape(-1, 3)[np.random.default_rng(0).permutation(cat.shape[0] * cat.shape[1])].reshape(cat.shape)
    assert metrics.palette_distance(cat, shuffled) < 1.0  # same colours, other places: same palette
    blue = cat.copy()
    blue[..., 2] = 255
    assert metrics.palette_distance(cat, blue) > 20.0


def test_texture_distance_tells_stripes_from_noise():
    yy, xx = np.mgrid[0:128, 0:128]
    stripes = np.repeat((((xx + yy) // 4) % 2 * 255).astype(np.uint8)[..., None], 3, axis=-1)
    noise = np.random.default_rng(0).integers(0, 256, (128, 128, 3)).astype(np.uint8)
    same = metrics.texture_distance(stripes, np.roll(stripes, 3, axis=1))
    other = metrics.texture_distance(stripes, noise)
    assert same[0] < 0.01 and same[1] < 0.05
    assert other[0] > 10 * same[0] + 0.05 and other[1] > 0.2


def test_content_kept_is_high_for_a_recoloured_photo_and_low_for_another_picture():
    cat = photo()
    assert metrics.content_kept(255 - cat, cat) > 0.95
    assert metrics.content_kept(np.ascontiguousarray(cat[::-1, ::-1]), cat) < 0.5


def test_warping_error_is_small_for_a_steady_clip_and_large_for_a_flickering_one():
    cat = photo()
    frames = [np.ascontiguousarray(np.roll(cat, 2 * t, axis=1)) for t in range(5)]  # a pan
    flows = metrics.clip_flows(frames)
    steady = metrics.warping_error(frames, flows)
    rng = np.random.default_rng(0)
    flicker = [np.clip(f.astype(np.int16) + rng.integers(-40, 40, f.shape), 0, 255).astype(np.uint8) for f in frames]
    assert metrics.warping_error(flicker, flows) > 10 * steady


def test_grid_spike_finds_an_8px_lattice_but_not_texture_without_a_period():
    rng = np.random.default_rng(0)
    sky = np.clip(rng.normal(60, 6, (96, 96, 3)), 0, 255).astype(np.uint8)
    assert metrics.grid_peak_ratio(sky) < 5
    yy, xx = np.mgrid[0:96, 0:96]
    lattice = sky.astype(np.int16) + ((xx % 8 == 0) | (yy % 8 == 0))[..., None] * 40
    assert metrics.grid_peak_ratio(np.clip(lattice, 0, 255).astype(np.uint8)) > 20
