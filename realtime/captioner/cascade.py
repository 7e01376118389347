"""OpenCV Haar cascades (faces, cat faces, ...) evaluated with numpy.

OpenCV 5 dropped `cv2.CascadeClassifier` and no longer ships the cascade files, so the captioner
reads the classic XML cascades (Debian `opencv-data`, or `cv2.data.haarcascades` on OpenCV 4) and runs
them itself: integral images per scale (upright and 45-degree), all windows of a stage at once,
early rejection per stage, then OpenCV's rectangle grouping. Stump cascades (all the shipped HAAR ones).
"""
from __future__ import annotations

import functools
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

CASCADE_DIRS = [
    os.environ.get("STYLECAST_CASCADES", ""),
    getattr(getattr(cv2, "data", None), "haarcascades", ""),
    "/usr/share/opencv4/haarcascades",
    "/usr/share/opencv/haarcascades",
    "/usr/local/share/opencv4/haarcascades",
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


@dataclass
class _Stage:
    threshold: float
    features: np.ndarray  # (n,) feature index of each stump
    thresholds: np.ndarray  # (n,)
    leaves: np.ndarray  # (n, 2): value added when the feature is below / not below its threshold


class HaarCascade:
    """One boosted stump cascade (OpenCV XML, HAAR features) with `detect(grey) -> [Box]`."""

    def __init__(self, path: Path):
        root = ET.parse(path).getroot().find("cascade")
        if root is None or root.findtext("featureType", "").strip() != "HAAR":
            raise ValueError(f"{path} is not an OpenCV HAAR cascade in the current XML format")
        self.width, self.height = int(root.findtext("width")), int(root.findtext("height"))
        self.stages = [self._read_stage(stage) for stage in root.find("stages")]
        features = list(root.find("features"))
        self.tilted = np.array([f.findtext("tilted", "0").strip() == "1" for f in features])
        # rects: (features, 3, 4) x y w h; weights (features, 3); unused third rects have weight 0
        self.rects = np.zeros((len(features), 3, 4), np.int64)
        self.weights = np.zeros((len(features), 3), np.float64)
        for i, feature in enumerate(features):
            for j, rect in enumerate(feature.find("rects")):
                *xywh, weight = rect.text.split()
                self.rects[i, j] = [int(float(v)) for v in xywh]
                self.weights[i, j] = float(weight)

    @staticmethod
    def _read_stage(stage: ET.Element) -> _Stage:
        nodes = [w.findtext("internalNodes").split() for w in stage.find("weakClassifiers")]
        leaves = [w.findtext("leafValues").split() for w in stage.find("weakClassifiers")]
        return _Stage(float(stage.findtext("stageThreshold")),
                      np.array([int(n[2]) for n in nodes]), np.array([float(n[3]) for n in nodes]),
                      np.array(leaves, np.float64))

    def detect(self, grey: np.ndarray, scale_factor: float = 1.15, min_neighbors: int = 3,
               min_size: int | None = None) -> list[Box]:
        """Objects in a HxW uint8 grey image, in its pixels (slow-ish: run it on a small image)."""
        found: list[tuple[int, int, int, int]] = []
        scale = 1.0
        min_size = min_size or self.width
        while grey.shape[1] / scale >= self.width and grey.shape[0] / scale >= self.height:
            if self.width * scale >= min_size:
                size = (int(round(grey.shape[1] / scale)), int(round(grey.shape[0] / scale)))
                scaled = cv2.resize(grey, size, interpolation=cv2.INTER_LINEAR)
                step = 2 if scale <= 2.0 else 1
                for x, y in self._windows(scaled, step):
                    found.append((int(x * scale), int(y * scale), int(self.width * scale), int(self.height * scale)))
            scale *= scale_factor
        return [Box(*r) for r in group_rectangles(found, min_neighbors)]

    def _windows(self, image: np.ndarray, step: int) -> np.ndarray:
        """Top-left corners (x, y) of the windows in `image` that pass every stage."""
        total, squares, rotated = cv2.integral3(image, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
        stride = total.shape[1]
        ys, xs = np.mgrid[0:image.shape[0] - self.height + 1:step, 0:image.shape[1] - self.width + 1:step]
        base = (ys * stride + xs).ravel()
        # upright and 45-degree sums come from one array: the rotated integral image follows the upright one
        flat, flat_sq = np.concatenate([total.ravel(), rotated.ravel()]), squares.ravel()
        # variance normalisation over the window minus a 1-pixel border, as OpenCV does
        norm = _corner_offsets(np.array([[1, 1, self.width - 2, self.height - 2]]), stride)[0]
        area = (self.width - 2) * (self.height - 2)
        mean_sum = _box_sums(flat, base[:, None], norm[None])[:, 0]
        sq_sum = _box_sums(flat_sq, base[:, None], norm[None])[:, 0]
        spread = area * sq_sum - mean_sum ** 2
        inv_norm = 1.0 / np.where(spread > 0, np.sqrt(np.maximum(spread, 1e-12)), 1.0)
        upright = _corner_offsets(self.rects.reshape(-1, 4), stride).reshape(len(self.rects), 3, 4)
        tilted = _tilted_offsets(self.rects.reshape(-1, 4), stride).reshape(len(self.rects), 3, 4) + total.size
        corners = np.where(self.tilted[:, None, None], tilted, upright)
        alive = np.arange(len(base))
        for stage in self.stages:
            if alive.size == 0:
                break
            offsets = corners[stage.features]  # (n, 3, 4)
            sums = _box_sums(flat, base[alive][:, None, None], offsets[None])  # (alive, n, 3)
            values = (sums * self.weights[stage.features][None]).sum(-1) * inv_norm[alive][:, None]
            votes = np.where(values < stage.thresholds[None], stage.leaves[:, 0], stage.leaves[:, 1]).sum(1)
            alive = alive[votes >= stage.threshold]
        corners_yx = base[alive]
        return np.stack([corners_yx % stride, corners_yx // stride], 1)


def _corner_offsets(rects: np.ndarray, stride: int) -> np.ndarray:
    """(n, 4) x y w h rectangles -> (n, 4) flat integral-image offsets: top-left, top-right, bottom-left, bottom-right."""
    x, y, w, h = rects.T
    return np.stack([y * stride + x, y * stride + x + w, (y + h) * stride + x, (y + h) * stride + x + w], -1)


def _tilted_offsets(rects: np.ndarray, stride: int) -> np.ndarray:
    """(n, 4) x y w h 45-degree rectangles -> (n, 4) flat offsets into the rotated integral image (OpenCV's layout)."""
    x, y, w, h = rects.T
    return np.stack([y * stride + x, (y + h) * stride + x - h, (y + w) * stride + x + w,
                     (y + w + h) * stride + x + w - h], -1)


def _box_sums(flat: np.ndarray, base: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Rectangle sums from a flattened integral image; offsets (..., 4) broadcast against base."""
    corner = lambda k: flat[base + offsets[..., k]]  # noqa: E731
    return corner(3) - corner(1) - corner(2) + corner(0)


def group_rectangles(rects: list[tuple[int, int, int, int]], min_neighbors: int, eps: float = 0.2) -> list[tuple]:
    """OpenCV's groupRectangles: cluster near-identical windows, keep clusters with > min_neighbors, average them."""
    if not rects:
        return []
    r = np.array(rects, np.float64)
    n = len(r)
    labels = np.arange(n)

    def root(i: int) -> int:
        while labels[i] != i:
            labels[i] = labels[labels[i]]
            i = labels[i]
        return i

    x1, y1, x2, y2 = r[:, 0], r[:, 1], r[:, 0] + r[:, 2], r[:, 1] + r[:, 3]
    delta = eps * (np.minimum(r[:, None, 2], r[None, :, 2]) + np.minimum(r[:, None, 3], r[None, :, 3])) * 0.5
    similar = ((np.abs(x1[:, None] - x1[None]) <= delta) & (np.abs(y1[:, None] - y1[None]) <= delta)
               & (np.abs(x2[:, None] - x2[None]) <= delta) & (np.abs(y2[:, None] - y2[None]) <= delta))
    for i, j in zip(*np.nonzero(np.triu(similar, 1))):
        a, b = root(i), root(j)
        if a != b:
            labels[a] = b
    groups = np.array([root(i) for i in range(n)])
    out = []
    for label in np.unique(groups):
        members = r[groups == label]
        if len(members) > min_neighbors:
            out.append(tuple(int(round(v)) for v in members.mean(0)))
    # drop a box that sits inside a bigger, better-supported one (OpenCV does the same)
    return [a for a in out if not any(b is not a and _inside(a, b) for b in out)]


def _inside(a: tuple, b: tuple) -> bool:
    dx, dy = b[2] * 0.2, b[3] * 0.2
    return (a[0] >= b[0] - dx and a[1] >= b[1] - dy and a[0] + a[2] <= b[0] + b[2] + dx
            and a[1] + a[3] <= b[1] + b[3] + dy and a[2] < b[2])


class Detector:
    """One named detector: OpenCV's CascadeClassifier when this OpenCV has it, else HaarCascade."""

    def __init__(self, path: Path, min_neighbors: int = 3):
        self.min_neighbors = min_neighbors
        if hasattr(cv2, "CascadeClassifier"):
            self._cv = cv2.CascadeClassifier(str(path))
            self._np = None
        else:
            self._cv, self._np = None, HaarCascade(path)

    def __call__(self, grey: np.ndarray, min_size: int) -> list[Box]:
        if self._cv is not None:
            found = self._cv.detectMultiScale(grey, 1.15, self.min_neighbors, minSize=(min_size, min_size))
            return [Box(*map(int, r)) for r in found]
        return self._np.detect(grey, 1.15, self.min_neighbors, min_size)


@functools.lru_cache(maxsize=None)
def load_detector(filename: str, min_neighbors: int = 3) -> Detector | None:
    """The detector for an OpenCV cascade file, or None when it is not installed or not supported here."""
    path = find_cascade(filename)
    if path is None:
        return None
    try:
        return Detector(path, min_neighbors)
    except ValueError:
        return None
