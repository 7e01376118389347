"""The unit of data that flows through the frame loop."""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np


@dataclass
class Frame:
    """One video frame and when it happened.

    image: HxWx3 uint8 RGB.
    pts: presentation time in seconds from the start of the source (keeps file timestamps).
    captured_at: time.monotonic() when the source produced it, for glass-to-glass latency.
    index: running frame number from the source.
    """

    image: np.ndarray
    pts: float
    captured_at: float
    index: int
    time_base: Fraction | None = None
    timings: dict[str, float] = field(default_factory=dict)
