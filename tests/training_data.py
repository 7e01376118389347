"""Small synthetic content and style images for the training tests (made here, nothing downloaded)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

TINY_ARCHITECTURE = dict(base_channels=8, dim=16, depth=1, heads=2)


def write_content_folder(folder: Path, count: int = 4, size: int = 96) -> Path:
    """`count` PNG 'photos' (gradients with a few coloured shapes) in folder/sub/, plus a junk file."""
    rng = np.random.default_rng(0)
    sub = folder / "sub"
    sub.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        ramp = np.linspace(40, 220, size, dtype=np.float32)
        image = np.stack([np.tile(ramp, (size, 1)), np.tile(ramp[:, None], (1, size)),
                          np.full((size, size), 60.0 + 40 * index)], -1).astype(np.uint8)
        for _ in range(3):
            centre = tuple(int(v) for v in rng.integers(10, size - 10, 2))
            colour = tuple(int(v) for v in rng.integers(0, 255, 3))
            cv2.circle(image, centre, int(rng.integers(5, 20)), colour, -1)
        cv2.imwrite(str(sub / f"photo{index}.png"), image)
    (folder / "broken.jpg").write_bytes(b"not a jpeg at all")
    return folder


def write_style_image(path: Path, size: int = 96) -> Path:
    """Red/blue diagonal stripes: a style whose Gram statistics are far from the content's."""
    yy, xx = np.mgrid[0:size, 0:size]
    stripes = ((xx + yy) // 6) % 2 == 0
    image = np.where(stripes[..., None], np.array([40, 40, 230], np.uint8), np.array([230, 60, 30], np.uint8))
    cv2.imwrite(str(path), image.astype(np.uint8))
    return path
