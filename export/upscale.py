"""Edge-aware upsampling for the render scale: style a small frame, bring it back to full size sharp.

Guided detail transfer, after the fast guided filter (He & Sun 2015): at low resolution, fit in every
window a linear map from the input's luminance to each styled channel, `styled ~ A * luma + B`, so A is
how the style answers a change of brightness there (its colour and contrast). Then

    out = bilinear(styled_small) + bilinear(A) * (luma_full - bilinear(luma_small))

The first term keeps the style's strokes and colours exactly as the network drew them; the second adds
the edges and fine detail that shrinking the camera frame took away, in the style's own colour
response. (A plain guided filter, `A * luma_full + B`, averages away the painted texture; measured.)

Frames are HxWx3 uint8 RGB. Full-size work buffers are kept per frame size.
"""
from __future__ import annotations

import cv2
import numpy as np

RADIUS = 1  # box-window radius on the coefficient grid (half the small frame's size), px
EPS = 1e-3  # regulariser in (intensity in [0,1])^2: windows with less contrast count as flat (A -> 0)


def small_size(hw: tuple[int, int], scale: float, multiple: int = 8) -> tuple[int, int]:
    """(h, w) of the internal frame for `scale`, rounded to `multiple` (the network pads to 8 anyway)."""
    return tuple(max(multiple, int(round(side * scale / multiple)) * multiple) for side in hw)


def box_filter(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window, edges mirrored (the guided filter's building block)."""
    return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)


def luminance_gain(input_small: np.ndarray, styled_small: np.ndarray, radius: int = RADIUS,
                   eps: float = EPS) -> np.ndarray:
    """A: (h/2)x(w/2)x3 float32, the local slope of each styled channel against the input's luminance.

    Fitted at half the small size: A is smooth by construction, so the coarser grid loses nothing and
    costs a quarter.
    """
    h, w = input_small.shape[:2]
    size = (max(1, w // 2), max(1, h // 2))
    guide = cv2.resize(cv2.cvtColor(input_small, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
    guide = guide.astype(np.float32) * np.float32(1 / 255)
    styled = cv2.resize(styled_small, size, interpolation=cv2.INTER_AREA).astype(np.float32) * np.float32(1 / 255)
    mean_g = box_filter(guide, radius)
    mean_s = box_filter(styled, radius)
    cov = box_filter(styled * guide[..., None], radius) - mean_s * mean_g[..., None]
    var = box_filter(guide * guide, radius) - mean_g * mean_g
    return box_filter(cov / (var[..., None] + np.float32(eps)), radius)


class GuidedUpsampler:
    """Enlarges a styled small frame to the size of its full-size source, edges and detail from the source."""

    def __init__(self, radius: int = RADIUS, eps: float = EPS):
        self.radius, self.eps = radius, eps
        self._gain: np.ndarray | None = None  # HxWx3 float32 work buffer, kept while the size holds

    def __call__(self, styled_small: np.ndarray, input_small: np.ndarray, input_full: np.ndarray) -> np.ndarray:
        """styled_small, input_small: hxwx3 uint8; input_full: HxWx3 uint8 -> HxWx3 uint8 styled, full size."""
        h, w = input_full.shape[:2]
        if self._gain is None or self._gain.shape[:2] != (h, w):
            self._gain = np.empty((h, w, 3), np.float32)
        gain = cv2.resize(luminance_gain(input_small, styled_small, self.radius, self.eps), (w, h),
                          dst=self._gain, interpolation=cv2.INTER_LINEAR)
        luma_small = cv2.resize(cv2.cvtColor(input_small, cv2.COLOR_RGB2GRAY), (w, h), interpolation=cv2.INTER_LINEAR)
        detail = cv2.subtract(cv2.cvtColor(input_full, cv2.COLOR_RGB2GRAY), luma_small, dtype=cv2.CV_32F)
        cv2.multiply(gain, cv2.merge([detail, detail, detail]), dst=gain)  # A * detail, 0..255 units
        base = cv2.resize(styled_small, (w, h), interpolation=cv2.INTER_LINEAR)
        return cv2.add(base, gain, dtype=cv2.CV_8U)  # rounds and saturates to 0..255 in the same pass
