"""Render scale: the upsampler keeps edges, `auto` holds the frame budget, the wrapper keeps the Stylizer contract."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from common.errors import UserError
from export.backends import Stylizer, create_stylizer
from export.render_scale import RETRY_FRAMES, SCALES, ScaleController, ScaledStylizer, parse_render_scale
from export.upscale import GuidedUpsampler, small_size


def edge_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of gradient magnitudes (luminance): 1 = the same edges in the same places."""
    def grad(image: np.ndarray) -> np.ndarray:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1)).ravel()
    return float(np.corrcoef(grad(a), grad(b))[0, 1])


def scene(h: int = 180, w: int = 320) -> np.ndarray:
    """Sharp-edged shapes and thin lines: what a 2x shrink blurs."""
    image = np.full((h, w, 3), 90, np.uint8)
    cv2.rectangle(image, (20, 20), (120, 150), (230, 200, 40), -1)
    cv2.circle(image, (220, 90), 60, (30, 60, 200), -1)
    for x in range(140, 300, 6):
        cv2.line(image, (x, 10), (x, 40), (250, 250, 250), 1)
    return image


def colour_style(frame: np.ndarray) -> np.ndarray:
    """A stand-in 'style' that works per pixel, so its full-size output is the exact reference."""
    return cv2.applyColorMap(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), cv2.COLORMAP_OCEAN)


def test_guided_upsampling_keeps_the_full_size_edges():
    full = scene()
    h, w = small_size(full.shape[:2], 0.5)
    small = cv2.resize(full, (w, h), interpolation=cv2.INTER_AREA)
    reference = colour_style(full)
    guided = GuidedUpsampler()(colour_style(small), small, full)
    bilinear = cv2.resize(colour_style(small), full.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    assert guided.shape == full.shape and guided.dtype == np.uint8
    assert edge_correlation(guided, reference) > edge_correlation(bilinear, reference) + 0.05
    assert edge_correlation(guided, reference) > 0.8
    assert np.abs(guided.astype(int) - reference).mean() < np.abs(bilinear.astype(int) - reference).mean()


class Recorder(Stylizer):
    """A fake backend: inverts colours and remembers the frame sizes it was given."""

    name = "fake"

    def __init__(self):
        self.sizes: list[tuple[int, int]] = []

    def load_style(self, style):
        return None

    def __call__(self, frame: np.ndarray, strength: float = 1.0) -> np.ndarray:
        self.sizes.append(frame.shape[:2])
        return 255 - frame


def test_scaled_stylizer_styles_small_and_returns_full_size():
    inner = Recorder()
    stylizer = ScaledStylizer(inner, 0.5)
    frame = scene()
    out = stylizer(frame)
    assert out.shape == frame.shape and inner.sizes == [(88, 160)]  # 0.5x, rounded to multiples of 8
    assert np.array_equal(stylizer(frame, 0.0), frame)  # strength 0: the original
    assert "render scale 0.5" in stylizer.name
    assert stylizer.innermost is inner and inner.innermost is inner  # what runs the network, under the wrapper


def test_auto_steps_down_when_slow_and_back_up_when_fast():
    controller = ScaleController(target_fps=10)  # budget 100 ms
    assert controller.start((720, 1280)) == 0.5  # about 640x360 pixels to begin with
    controller.observe(9.0)  # the first frame at a size warms the engine up: not held against the scale
    assert controller.scale == 0.5
    for _ in range(3):
        controller.observe(0.3)
    assert controller.scale < 0.5
    for _ in range(20):
        controller.observe(0.01)
    assert controller.scale == 0.375  # 0.5 was measured too slow a moment ago: no flapping
    for _ in range(RETRY_FRAMES + 20):
        controller.observe(0.01)
    assert controller.scale == 1.0  # ... but the load may have gone: retried later
    for _ in range(50):
        controller.observe(5.0)
    assert controller.scale == SCALES[-1]  # never below the smallest scale


def test_render_scale_values_are_checked(tiny_style):
    assert parse_render_scale("auto") is None and parse_render_scale("0.5") == 0.5
    for bad in ("0", "1.5", "half"):
        with pytest.raises(UserError, match="--render-scale"):
            parse_render_scale(bad)
    with pytest.raises(UserError, match="--render-scale"):
        create_stylizer(tiny_style, "onnx-cpu", render_scale="2")
    assert create_stylizer(tiny_style, "onnx-cpu", render_scale=1).name == "onnx-cpu"  # nothing wrapped at 1


def test_auto_render_scale_on_a_real_backend(tiny_style):
    stylizer = create_stylizer(tiny_style, "onnx-cpu", render_scale="auto")
    frame = scene()
    assert stylizer(frame).shape == frame.shape and stylizer.info.name == "tiny"
