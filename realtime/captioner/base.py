"""What the frame loop needs from the captioner, so the loop and the captioner can grow apart.

The real implementations live beside this file (service.py, narrators, ...); the frame loop and
the WebRTC server only rely on these two protocols and the `Caption` record.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from realtime.frames import Frame


@dataclass(frozen=True)
class Caption:
    """One narration line, timed in the video's own clock (pts seconds)."""

    text: str
    start: float
    duration: float
    lang: str = "en"

    @property
    def end(self) -> float:
        return self.start + self.duration


class CaptionSource(Protocol):
    """Runs beside the frame loop; never blocks it."""

    def offer(self, frame: Frame, style_name: str) -> None:
        """Hand over the newest frame; returns at once (the worker takes it when it is due)."""

    def active(self, pts: float) -> Caption | None:
        """The caption to show at `pts`, if any."""

    def subscribe(self, callback: Callable[[Caption], None]) -> None:
        """Call `callback` with each new caption (WebRTC data channel, OBS text file, subtitles)."""

    def close(self) -> None:
        """Stop the worker."""


class CaptionRenderer(Protocol):
    """Burns the active caption into a frame (cached text image; only the blend is per frame)."""

    def draw(self, image: np.ndarray, caption: Caption | None, pts: float) -> np.ndarray:
        """image: HxWx3 uint8 RGB; returns the frame with the subtitle (may modify in place)."""
