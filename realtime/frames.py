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
    input_id: which of several inputs sharing one processor it came from (a WebRTC peer), so that what a
        processor carries from frame to frame (the person mask) never crosses from one input to another.
    """

    image: np.ndarray
    pts: float
    captured_at: float
    index: int
    time_base: Fraction | None = None
    timings: dict[str, float] = field(default_factory=dict)
    input_id: int = 0
