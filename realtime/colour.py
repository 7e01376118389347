"""Keep the video's own colours: the style's strokes and texture, the camera's hues.

Luminance-only transfer (Gatys et al., "Preserving colour in neural artistic style transfer", 2016), done
after styling: the styled frame's brightness (Y) with the input frame's colour (Cr, Cb). It costs three
colour conversions a frame and works with every style, shipped, picture or blend.
"""
from __future__ import annotations

import cv2
import numpy as np


def keep_colours(original: np.ndarray, styled: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB frames -> the styled frame's luma with the original's chroma (new array)."""
    ycc = cv2.cvtColor(styled, cv2.COLOR_RGB2YCrCb)
    ycc[..., 1:] = cv2.cvtColor(original, cv2.COLOR_RGB2YCrCb)[..., 1:]
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)
