"""Training images: content photos (or video frames) and the style image, as random square crops.

Everything is decoded once into memory (a few dozen photos, uint8 HxWx3 RGB, short side capped), then
`RandomCrops` draws crops with scale jitter and flips. That is fast enough for CPU training and needs no
DataLoader workers. Bad or unreadable files are skipped with a warning, never a crash.
"""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import torch

from common.errors import UserError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v"}
# Photographs that ship inside scikit-image (skimage/data); the rest of that folder is diagrams, text, scans.
SKIMAGE_PHOTOS = (
    "astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png", "motorcycle_right.png",
    "hubble_deep_field.jpg", "camera.png", "coins.png", "moon.png", "brick.png", "grass.png", "gravel.png",
)
MAX_SHORT_SIDE = 512  # px: larger photos are downscaled on load (crops are 64-512 px)
MIN_SHORT_SIDE = 32
FRAMES_PER_VIDEO = 24


def skimage_photo_paths() -> list[Path]:
    """The photo files inside the installed scikit-image package (empty if it is not installed)."""
    try:
        import skimage
    except ImportError:
        return []
    folder = Path(skimage.__file__).resolve().parent / "data"
    return [folder / name for name in SKIMAGE_PHOTOS if (folder / name).is_file()]


def _fit(image: np.ndarray) -> np.ndarray:
    """Any decoded image -> HxWx3 uint8 RGB with short side <= MAX_SHORT_SIDE."""
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    image = image[..., :3]
    if image.dtype != np.uint8:
        image = np.clip(image.astype(np.float32) / (65535.0 if image.dtype == np.uint16 else 1.0), 0, 1)
        image = (image * 255).astype(np.uint8) if image.max() <= 1.0 else image.astype(np.uint8)
    short = min(image.shape[:2])
    if short > MAX_SHORT_SIDE:
        scale = MAX_SHORT_SIDE / short
        image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                           interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


def read_image(path: Path) -> np.ndarray | None:
    """Decode one image file to HxWx3 uint8 RGB, or None (with a warning) if it is unreadable or tiny."""
    bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if bgr is None or bgr.size == 0:
        log.warning("skipping %s: not a readable image", path)
        return None
    if bgr.ndim == 3 and bgr.shape[2] == 4:
        bgr = bgr[..., :3]
    rgb = bgr if bgr.ndim == 2 else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if min(rgb.shape[:2]) < MIN_SHORT_SIDE:
        log.warning("skipping %s: smaller than %d px", path, MIN_SHORT_SIDE)
        return None
    return _fit(rgb)


def read_video_frames(path: Path, count: int = FRAMES_PER_VIDEO) -> list[np.ndarray]:
    """`count` frames spread evenly over a video file (fewer if it is short); [] with a warning if unreadable."""
    capture = cv2.VideoCapture(str(path))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    frames = []
    if total > 0:
        for index in np.linspace(0, total - 1, min(count, total)).astype(int):
            capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
            ok, bgr = capture.read()
            if ok and bgr is not None and min(bgr.shape[:2]) >= MIN_SHORT_SIDE:
                frames.append(_fit(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    capture.release()
    if not frames:
        log.warning("skipping %s: no readable video frames", path)
    return frames


def load_images(source: str | Path | None) -> list[np.ndarray]:
    """Content images from a file or a folder (recursively: images and video frames), or by default the
    photos shipped with scikit-image. Raises UserError if nothing usable is found."""
    if source is None:
        files = skimage_photo_paths()
        where = "scikit-image's bundled photos (install scikit-image, or pass --content DIR)"
    else:
        root = Path(source)
        if not root.exists():
            raise UserError(f"no such file or folder: {root}")
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        where = str(root)
    images: list[np.ndarray] = []
    for path in files:
        suffix = path.suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            images += read_video_frames(path)
        elif suffix in IMAGE_SUFFIXES:
            image = read_image(path)
            if image is not None:
                images.append(image)
    if not images:
        raise UserError(f"no usable images or videos found in {where}")
    return images


def to_tensor(images: list[np.ndarray] | np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 image(s) -> Bx3xHxW float in [0, 1]."""
    batch = np.stack(images) if isinstance(images, list) else np.array(images[None])  # a writable copy
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255.0)


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """1x3xHxW (or 3xHxW) float in [0, 1] -> HxWx3 uint8."""
    t = tensor.detach().float().cpu()
    t = t[0] if t.ndim == 4 else t
    return (t.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)


class RandomCrops:
    """Square crops of `size` px from a list of images: random image, crop side, position and flip.

    Scale jitter: the crop side is a random fraction (`min_fraction`..1) of the image's short side, so the
    network sees the same things at different sizes. `seed` differs per DDP rank.
    """

    def __init__(self, images: list[np.ndarray], size: int, seed: int = 0, min_fraction: float = 0.4):
        self.images = images
        self.size = size
        self.min_fraction = min_fraction
        self.rng = np.random.default_rng(seed)

    def crop(self) -> np.ndarray:
        image = self.images[self.rng.integers(len(self.images))]
        h, w = image.shape[:2]
        short = min(h, w)
        side = int(short * self.rng.uniform(self.min_fraction, 1.0)) if short > self.size // 2 else short
        side = max(side, min(short, self.size // 2))
        y = int(self.rng.integers(0, h - side + 1))
        x = int(self.rng.integers(0, w - side + 1))
        patch = image[y:y + side, x:x + side]
        interpolation = cv2.INTER_AREA if side > self.size else cv2.INTER_LINEAR
        patch = cv2.resize(patch, (self.size, self.size), interpolation=interpolation)
        return patch[:, ::-1] if self.rng.random() < 0.5 else patch

    def batch(self, count: int) -> torch.Tensor:
        """Bx3xSxS float in [0, 1]."""
        return to_tensor([np.ascontiguousarray(self.crop()) for _ in range(count)])

