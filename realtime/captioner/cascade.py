"""OpenCV's bundled Haar cascades (faces, smiles, bodies, cat faces) behind one small detector type.

OpenCV 4 ships the cascade XML files inside the wheel (`cv2.data.haarcascades`), so nothing is
downloaded; `STYLECAST_CASCADES` or Debian's `opencv-data` folders are looked at as a fallback.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SCALE_FACTOR = 1.15  # image pyramid step: a little coarser than OpenCV's 1.1, for speed on small frames

CASCADE_DIRS = [
    os.environ.get("STYLECAST_CASCADES", ""),
    getattr(getattr(cv2, "data", None), "haarcascades", ""),
    "/usr/share/opencv4/haarcascades",
    "/usr/share/opencv/haarcascades",
]


@dataclass(frozen=True)
class Box:
    """A detection in the analysed image's pixels: x, y, width, height."""

    x: int
    y: int
    w: int
    h: int

    @property
    def centre_x(self) -> float:
        return self.x + self.w / 2


def find_cascade(filename: str) -> Path | None:
    """The first installed copy of an OpenCV cascade file, or None."""
    for folder in CASCADE_DIRS:
        if folder and (Path(folder) / filename).is_file():
            return Path(folder) / filename
    return None


class Detector:
    """One named detector: `detector(grey, min_size) -> [Box]` on a HxW uint8 grey image."""

    def __init__(self, path: Path, min_neighbors: int = 3):
        self.min_neighbors = min_neighbors
        self._classifier = cv2.CascadeClassifier(str(path))
        if self._classifier.empty():
            raise ValueError(f"not a cascade file: {path}")

    def __call__(self, grey: np.ndarray, min_size: int) -> list[Box]:
        found = self._classifier.detectMultiScale(grey, SCALE_FACTOR, self.min_neighbors,
                                                  minSize=(min_size, min_size))
        return [Box(*map(int, r)) for r in found]


@functools.lru_cache(maxsize=None)
def load_detector(filename: str, min_neighbors: int = 3) -> Detector | None:
    """The detector for an OpenCV cascade file, or None when it is not installed here."""
    path = find_cascade(filename)
    if path is None:
        return None
    try:
        return Detector(path, min_neighbors)
    except ValueError:
        return None
