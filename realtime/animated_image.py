"""Animated WebP as a source, decoded with Pillow: FFmpeg's webp decoder reads still pictures only
(an animated file is 'damaged packets' to it), while Pillow decodes every frame with its own duration.

Frames keep the file's timing (pts = the sum of the durations before them, in ms), so a recording
plays at the animation's own pace, like an animated GIF through FFmpeg.
"""
from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from common.console import warn
from common.errors import UserError
from realtime.frames import Frame
from realtime.sources import FrameSource, fit_to

ANIMATED_SUFFIXES = {".webp"}
# Browsers show frames of <= 10 ms for 100 ms (old GIF tools wrote 0); doing the same keeps such files watchable.
SHORTEST_FRAME_MS = 10
STANDIN_FRAME_MS = 100


def is_animated_image(path: Path) -> bool:
    """An animated WebP (more than one frame); False for a still picture or anything Pillow cannot read."""
    if Path(path).suffix.lower() not in ANIMATED_SUFFIXES:
        return False
    from PIL import Image

    try:
        with Image.open(path) as image:
            return bool(getattr(image, "is_animated", False))
    except (OSError, ValueError, Image.DecompressionBombError):
        return False  # left to the video decoder, which reports what is wrong in its own words


class AnimatedImageSource(FrameSource):
    """Every frame of an animated WebP, at the file's own timing (`realtime=True`: paced, and live)."""

    def __init__(self, path: Path, size: tuple[int, int] | None = None, realtime: bool = False):
        super().__init__()
        from PIL import Image

        self.path, self.size, self.live = Path(path), size, realtime
        self.description = str(path)
        try:
            self.image = Image.open(self.path)
            self.expected_frames = self.image.n_frames
            self.fps = 1000.0 / self._decode(0)[1]  # the first frame's rate: the recorder's keyframe spacing
        except (OSError, ValueError, EOFError, Image.DecompressionBombError) as exc:
            raise UserError(f"cannot read animated image {path}: {exc}") from None
        self.time_base = Fraction(1, 1000)

    def _decode(self, index: int) -> tuple[np.ndarray, int]:
        """Frame `index` as HxWx3 uint8 RGB, and how long it is shown in ms (Pillow knows it once decoded)."""
        self.image.seek(index)
        rgb = np.asarray(self.image.convert("RGB"))
        duration = int(self.image.info.get("duration") or 0)
        return rgb, (duration if duration > SHORTEST_FRAME_MS else STANDIN_FRAME_MS)

    def frames(self) -> Iterator[Frame]:
        started, pts_ms = time.monotonic(), 0
        for index in range(self.expected_frames):
            if self.stopping:
                return
            try:
                rgb, duration = self._decode(index)
            except (OSError, ValueError, EOFError) as exc:
                self.corrupt_frames += 1
                self.stopped_early = (f"reading {self.path} stopped early at frame {index} of "
                                      f"{self.expected_frames} ({exc}); the rest was not processed")
                warn(self.stopped_early)
                return
            if self.live:
                self._sleep_until(started + pts_ms / 1000.0)
            yield Frame(fit_to(np.ascontiguousarray(rgb), self.size), pts_ms / 1000.0, time.monotonic(), index,
                        self.time_base)
            pts_ms += duration

    def close(self) -> None:
        self.image.close()
