"""The built-in demo scene: real photos with a slow pan/zoom, so `stylecast run` works with no camera or files.

The photos ship inside scikit-image (astronaut, coffee, chelsea, rocket), so nothing is downloaded.
Each photo gets a few seconds of "Ken Burns" motion (a slow zoom and drift), then cross-fades into
the next; the motion gives the stylizer real textures that move, like a handheld camera would.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
# where the subject is, top (0) to bottom (1) of what a wide frame crops away: the astronaut's face is near
# the top of a square photo, and a centred crop cut it off at the eyes (the narrator then saw no face)
FOCUS_Y = {"astronaut": 0.1}
SECONDS_PER_PHOTO = 4.0
CROSSFADE_SECONDS = 0.8


def _load_photos() -> list[np.ndarray]:
    """The shipped scikit-image photos as HxWx3 uint8 RGB."""
    from skimage import data

    photos = []
    for name in PHOTOS:
        image = getattr(data, name)()
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        photos.append(np.ascontiguousarray(image[..., :3]))
    return photos


class DemoScene:
    """Renders the demo clip at any size: `scene.render(t)` -> HxWx3 uint8 RGB for time t (seconds)."""

    def __init__(self, width: int = 640, height: int = 360):
        self.width, self.height = int(width), int(height)
        self.photos = _load_photos()

    def _shot(self, slot: int, phase: float) -> np.ndarray:
        """Photo number `slot` framed to fill the output, zoomed 1.0->1.25 and drifting as `phase` goes 0->1."""
        photo = self.photos[slot % len(self.photos)]
        focus_y = FOCUS_Y.get(PHOTOS[slot % len(PHOTOS)], 0.5)
        ph, pw = photo.shape[:2]
        cover = max(self.width / pw, self.height / ph)  # scale so the photo covers the frame
        zoom = cover * (1.0 + 0.25 * phase)
        spare_x = max(0.0, pw * zoom - self.width)
        spare_y = max(0.0, ph * zoom - self.height)
        direction = 1.0 if slot % 2 == 0 else -1.0  # alternate drift so cuts feel different
        drift = 0.5 + direction * 0.4 * (phase - 0.5)
        wobble = 0.05 * math.sin(2 * math.pi * phase)  # a little handheld sway
        tx = -spare_x * drift
        ty = -spare_y * min(1.0, max(0.0, focus_y + wobble))
        matrix = np.float32([[zoom, 0, tx], [0, zoom, ty]])
        return cv2.warpAffine(photo, matrix, (self.width, self.height), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT)

    def render(self, t: float) -> np.ndarray:
        """The frame at time `t` seconds; loops over the photos forever."""
        slot = int(t // SECONDS_PER_PHOTO)
        phase = (t % SECONDS_PER_PHOTO) / SECONDS_PER_PHOTO
        current = self._shot(slot, phase)
        fade_start = 1.0 - CROSSFADE_SECONDS / SECONDS_PER_PHOTO
        if phase <= fade_start:
            return current
        following = self._shot(slot + 1, 0.0)
        alpha = (phase - fade_start) / (1.0 - fade_start)
        return cv2.addWeighted(current, 1.0 - alpha, following, alpha, 0.0)
