"""Render scale: run the style network on a smaller frame and enlarge the result with edge-aware upsampling.

The network's cost grows with pixels, so 0.5 costs about a quarter. `GuidedUpsampler` brings back the
camera frame's edges and fine detail; strokes and tiles come out larger relative to the picture (the
network paints in pixels), which is the price, measured by bench/quality.py.

`--render-scale auto` picks, frame by frame, the largest scale in SCALES whose styling time holds the
target frame rate, so a busy neighbour or a bigger camera lowers the scale instead of the fps.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np

from common.errors import UserError
from export.backends import Stylizer, clamp_strength
from export.upscale import GuidedUpsampler, small_size
from training.checkpoint import StyleInfo

SCALES = (1.0, 0.75, 0.5, 0.375, 0.25)  # what `auto` steps through (few sizes: engines cache per size)
DEFAULT_TARGET_FPS = 12.0  # headroom over the 10 fps goal: capture and encoding share the cores
START_PIXELS = 640 * 360  # `auto` starts at the largest scale with at most this many pixels, then adapts
HEADROOM = 0.85  # step up only when the larger scale is predicted to take < 85 % of the budget
SETTLE_FRAMES = 4  # frames at a scale before deciding to leave it (the first one is not timed)
RETRY_FRAMES = 150  # forget a too-slow measurement after this many frames (the load may have gone)

log = logging.getLogger(__name__)


def parse_render_scale(text: str | float) -> float | None:
    """'auto' -> None; '0.5' -> 0.5. A UserError outside (0, 1]."""
    if isinstance(text, str) and text.strip().lower() == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"--render-scale must be 'auto' or a number in (0, 1], got '{text}'") from None
    if not 0.0 < value <= 1.0:
        raise UserError(f"--render-scale must be in (0, 1] (1 = full resolution), got {value:g}")
    return value


class ScaleController:
    """Holds the styling time under 1/target_fps by stepping through SCALES (moving average per scale)."""

    def __init__(self, target_fps: float = DEFAULT_TARGET_FPS, scales: tuple[float, ...] = SCALES,
                 start_pixels: int | None = START_PIXELS):
        if not target_fps > 0:
            raise UserError(f"--target-fps must be positive (got {target_fps})")
        self.budget = 1.0 / target_fps
        self.scales = tuple(sorted(scales, reverse=True))
        self.index: int | None = None
        self.start_pixels = start_pixels  # None: start at full size (GPU engines)
        self._seconds: dict[int, tuple[float, int]] = {}  # scale index -> (moving average, frame number)
        self._frames_here = 0
        self._frame = 0

    @property
    def scale(self) -> float:
        return self.scales[self.index or 0]

    def start(self, hw: tuple[int, int]) -> float:
        """Scale for the first frame: the largest with at most `start_pixels` pixels (then it adapts)."""
        if self.index is None:
            limit = self.start_pixels if self.start_pixels is not None else hw[0] * hw[1]
            fits = [i for i, s in enumerate(self.scales) if hw[0] * hw[1] * s * s <= limit]
            self.index = fits[0] if fits else len(self.scales) - 1
        return self.scale

    def observe(self, seconds: float) -> float:
        """Record how long the frame at the current scale took; returns the scale for the next frame."""
        self._frame += 1
        self._frames_here += 1
        if self._frames_here == 1:  # the first frame at a new size pays for engine warm-up (compile, buffers)
            return self.scale
        old = self._seconds.get(self.index)
        average = seconds if old is None else 0.7 * old[0] + 0.3 * seconds
        self._seconds[self.index] = (average, self._frame)
        if self._frames_here < SETTLE_FRAMES:
            return self.scale
        if average > self.budget and self.index < len(self.scales) - 1:
            self._move(+1, average)
        elif self.index > 0 and self._predicted(self.index - 1, average) < HEADROOM * self.budget:
            self._move(-1, average)
        return self.scale

    def _predicted(self, index: int, average_here: float) -> float:
        """Time expected at scale `index`: its recent measurement, else pixels-proportional."""
        known = self._seconds.get(index)
        if known is not None and self._frame - known[1] < RETRY_FRAMES:
            return known[0]
        return average_here * (self.scales[index] / self.scale) ** 2

    def _move(self, step: int, average: float) -> None:
        old = self.scale
        self.index += step
        self._frames_here = 0
        self._seconds.pop(self.index, None)  # measure the new scale afresh: an old average would decide for it
        log.info("render scale %.3g -> %.3g (styling took %.0f ms, budget %.0f ms)",
                 old, self.scale, average * 1000, self.budget * 1000)


class ScaledStylizer(Stylizer):
    """Wraps any Stylizer: shrink (area average) -> style -> guided upsampling -> strength blend."""

    def __init__(self, inner: Stylizer, scale: float | None, target_fps: float = DEFAULT_TARGET_FPS,
                 start_pixels: int | None = START_PIXELS):
        self.inner = inner
        self.fixed = scale
        self.controller = ScaleController(target_fps, start_pixels=start_pixels) if scale is None else None
        self.upsampler = GuidedUpsampler()

    @property
    def name(self) -> str:  # type: ignore[override]
        what = "auto" if self.fixed is None else f"{self.fixed:g}"
        return f"{self.inner.name}, render scale {what}"

    @property
    def info(self) -> StyleInfo:  # type: ignore[override]
        return self.inner.info

    @property
    def innermost(self) -> Stylizer:
        return self.inner.innermost

    @property
    def scale(self) -> float:
        """The scale the next frame is styled at."""
        return self.fixed if self.controller is None else self.controller.scale

    def load_style(self, style: str | Path) -> StyleInfo:
        return self.inner.load_style(style)

    def prepare(self, style: str | Path) -> Path:
        return self.inner.prepare(style)

    def __call__(self, frame: np.ndarray, strength: float = 1.0) -> np.ndarray:
        started = time.perf_counter()
        scale = self.fixed if self.controller is None else self.controller.start(frame.shape[:2])
        styled = self._stylize(frame, clamp_strength(strength), scale)
        if self.controller is not None:
            self.controller.observe(time.perf_counter() - started)
        return styled

    def _stylize(self, frame: np.ndarray, strength: float, scale: float) -> np.ndarray:
        h, w = small_size(frame.shape[:2], scale)
        if scale >= 1.0 or (h, w) == frame.shape[:2]:
            return self.inner(frame, strength)
        small = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        styled = self.upsampler(self.inner(small, 1.0), small, frame)
        if strength < 1.0:
            styled = cv2.addWeighted(styled, strength, frame, 1.0 - strength, 0.0)
        return styled


def with_render_scale(stylizer: Stylizer, render_scale: str | float | None,
                      target_fps: float = DEFAULT_TARGET_FPS, on_gpu: bool = False) -> Stylizer:
    """`stylizer` itself at scale 1 (nothing added to the frame path), else wrapped in ScaledStylizer.

    On a GPU `auto` starts at full size (it is usually fast enough); on a CPU at about 640x360 pixels."""
    scale = parse_render_scale(render_scale) if render_scale is not None else 1.0
    if scale == 1.0:
        return stylizer
    return ScaledStylizer(stylizer, scale, target_fps, start_pixels=None if on_gpu else START_PIXELS)
