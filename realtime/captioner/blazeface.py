"""MediaPipe's Blaze SSD detectors (Apache-2.0): BlazeFace for faces, BlazePalm for hands, run with the
LiteRT interpreter (see litert.py for where the files come from; without them `load_blaze()` returns None).

Decoding follows mediapipe/modules/{face,palm}_detection/*.pbtxt: SSD anchors, sigmoid scores, box and
keypoint offsets scaled by the input size, weighted NMS.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime.captioner.cascade import Box
from realtime.captioner.litert import LiteRTModel, load_model


@dataclass(frozen=True)
class BlazeModel:
    """One Blaze SSD variant: its file, input size, anchor strides (one entry per SSD layer), score bar,
    keypoint count and the input value range it was trained on."""

    filename: str
    size: int
    strides: tuple[int, ...]
    anchors_per_cell: int  # per grid cell and layer; layers with the same stride share one grid
    min_score: float
    keypoints: int
    input_range: tuple[float, float] = (-1.0, 1.0)


# full range: faces from close-ups down to ~5 m away (about 1/20 of the frame), the one for photos and rooms.
# Keypoints: right eye, left eye, nose tip, mouth, right ear, left ear (the subject's right/left).
FACE = BlazeModel("face_detection_full_range_sparse.tflite", 192, (4,), 1, 0.6, 6)
# short range: faces within ~2 m, the close-ups that fill the frame and that the full-range model scores low
CLOSE_FACE = BlazeModel("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2, 0.5, 6)
# palms (a fist or an open hand, seen from either side). Keypoints: wrist, index/middle/ring/pinky knuckles,
# two thumb joints.
PALM = BlazeModel("palm_detection_lite.tflite", 192, (8, 16, 16, 16), 2, 0.5, 7, (0.0, 1.0))


@dataclass(frozen=True, eq=False)
class Detection:
    """A find in an image: its box (clipped to the image) and keypoints (Kx2, x/y) in that image's pixels,
    the model's score, and the box as the model drew it (x1, y1, x2, y2; it may reach past the edges)."""

    box: Box
    score: float
    keypoints: np.ndarray
    extent: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


def ssd_anchors(model: BlazeModel) -> np.ndarray:
    """Nx2 anchor centres (x, y in 0..1), in the order the model's outputs use."""
    centres = []
    layer = 0
    while layer < len(model.strides):
        stride, repeats = model.strides[layer], 0
        while layer < len(model.strides) and model.strides[layer] == stride:  # same-stride layers share a grid
            repeats += 1
            layer += 1
        cells = model.size // stride
        per_cell = model.anchors_per_cell * repeats
        ys, xs = np.mgrid[0:cells, 0:cells]
        grid = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        centres.append(np.repeat(grid, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(centres).astype(np.float32)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, overlap: float = 0.3) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's weighted non-maximum suppression: overlapping finds are averaged by score.

    boxes: NxD, the first four columns x1, y1, x2, y2 (any further columns, keypoints, are averaged too)."""
    order = np.argsort(-scores)
    kept = []
    while order.size:
        best = boxes[order[0]]
        x1 = np.maximum(best[0], boxes[order, 0])
        y1 = np.maximum(best[1], boxes[order, 1])
        x2 = np.minimum(best[2], boxes[order, 2])
        y2 = np.minimum(best[3], boxes[order, 3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        areas = (boxes[order, 2] - boxes[order, 0]) * (boxes[order, 3] - boxes[order, 1])
        iou = inter / (areas + (best[2] - best[0]) * (best[3] - best[1]) - inter + 1e-9)
        group = order[iou > overlap]
        weights = scores[group][:, None]
        kept.append(((boxes[group] * weights).sum(0) / weights.sum(), float(scores[order[0]])))
        order = order[iou <= overlap]
    return kept


def detections_from_rows(rows: list[tuple[np.ndarray, float]], width: int, height: int) -> list[Detection]:
    """Detections from weighted_nms() rows (x1, y1, x2, y2, keypoints...), boxes clipped to the image."""
    found = []
    for row, score in rows:
        x1, y1, x2, y2 = max(0.0, row[0]), max(0.0, row[1]), min(float(width), row[2]), min(float(height), row[3])
        if x2 - x1 >= 4 and y2 - y1 >= 4:
            box = Box(round(x1), round(y1), round(x2 - x1), round(y2 - y1))
            extent = (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
            found.append(Detection(box, score, np.asarray(row[4:], np.float32).reshape(-1, 2), extent))
    return found


class BlazeDetector(LiteRTModel):
    """`detector(rgb) -> [Detection]` on an HxWx3 uint8 RGB image (the whole image, letterboxed to a square)."""

    def __init__(self, path: Path, model: BlazeModel):
        super().__init__(path)
        self.model = model
        outputs = sorted(self.output_details, key=lambda d: int(d["shape"][-1]))
        self._scores, self._boxes = outputs[0]["index"], outputs[1]["index"]
        self._anchors = ssd_anchors(model)

    def __call__(self, rgb: np.ndarray) -> list[Detection]:
        h, w = rgb.shape[:2]
        side = max(h, w)  # letterbox to a square so faces and hands keep their shape
        square = np.zeros((side, side, 3), np.uint8)
        top, left = (side - h) // 2, (side - w) // 2
        square[top:top + h, left:left + w] = rgb
        size, (low, high) = self.model.size, self.model.input_range
        small = cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
        self.run(small * ((high - low) / 255.0) + low)
        raw = self.output(self._boxes)[0]
        logits = np.clip(self.output(self._scores)[0, :, 0].astype(np.float64), -100, 100)
        scores = 1.0 / (1.0 + np.exp(-logits))
        keep = scores >= self.model.min_score
        if not keep.any():
            return []
        raw, scores, anchors = raw[keep], scores[keep], self._anchors[keep]
        centre = raw[:, :2] / size + anchors
        half = raw[:, 2:4] / size / 2
        points = raw[:, 4:4 + 2 * self.model.keypoints].reshape(len(raw), -1, 2) / size + anchors[:, None]
        rows = np.concatenate([centre - half, centre + half, points.reshape(len(raw), -1)], axis=1) * side
        rows -= np.tile([left, top], rows.shape[1] // 2)
        return detections_from_rows(weighted_nms(rows, scores), w, h)


def load_blaze(model: BlazeModel = FACE) -> BlazeDetector | None:
    """The detector, or None when its model file or the LiteRT runtime is not installed."""
    return load_model(BlazeDetector, model.filename, model)
