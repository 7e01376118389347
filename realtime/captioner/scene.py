"""Measure a frame: the faces BlazeFace is sure of and where, smiles, light, notable colour and motion.

Everything the offline narrator says comes from a `SceneFacts`; nothing is guessed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from realtime.captioner.blazeface import load_face_detector, weighted_nms
from realtime.captioner.cascade import Box, load_detector

ANALYSIS_WIDTH = 320  # detectors run on a copy this wide: faces down to ~5% of the frame width
DARK, BRIGHT = 0.22, 0.72  # mean luma (0..1) thresholds
STILL, BUSY = 0.008, 0.06  # mean |grey difference| (0..1) between frames 0.2 s apart; in between: not said
FACE_SCORE = 0.8  # BlazeFace confidence below which a face is not mentioned (0.6-0.8 hits apples and oranges)
SMILE_NEIGHBOURS = 20  # Haar smile votes inside a found face: high, so only clear smiles count
CLOSE_UP, FAR = 0.3, 0.07  # face width / frame width: a close-up, or someone far away
# hue ranges (OpenCV hue 0..180) -> colour names; red wraps around
HUES = [(0, 8, "red"), (8, 22, "orange"), (22, 34, "yellow"), (34, 85, "green"), (85, 100, "teal"),
        (100, 130, "blue"), (130, 150, "purple"), (150, 170, "pink"), (170, 181, "red")]
NOTABLE_COLOUR = 0.35  # a colour is worth a remark when this share of the *whole* frame is that vivid colour


@dataclass
class SceneFacts:
    """What was measured in one frame. Positions are 'left', 'centre', 'right', or '' when not clear."""

    width: int
    faces: list[Box] = field(default_factory=list)
    smiles: int = 0
    brightness: float = 0.5  # mean luma 0..1
    colour: str = ""  # one vivid colour that fills much of the frame, else ''
    monochrome: bool = False  # a black-and-white picture
    motion: float | None = None  # None: no earlier frame to compare with
    scene_changed: bool = False
    style: str = ""

    def where(self, box: Box) -> str:
        """Thirds with a margin: a box near a boundary gets '' (not said) rather than a coin toss."""
        third = box.centre_x / self.width
        return "left" if third < 0.33 else "right" if third > 0.67 else "centre" if 0.4 <= third <= 0.6 else ""

    def size(self, box: Box) -> str:
        """'close' (a close-up), 'far', or ''."""
        share = box.w / self.width
        return "close" if share >= CLOSE_UP else "far" if share <= FAR else ""

    @property
    def people(self) -> int:
        return len(self.faces)


def analysis_copy(image: np.ndarray) -> np.ndarray:
    """A small RGB copy (ANALYSIS_WIDTH wide) to measure on."""
    h, w = image.shape[:2]
    if w <= ANALYSIS_WIDTH:
        return image
    return cv2.resize(image, (ANALYSIS_WIDTH, max(1, round(h * ANALYSIS_WIDTH / w))), interpolation=cv2.INTER_AREA)


def find_faces(rgb: np.ndarray) -> list[Box]:
    """Faces BlazeFace is sure of (FACE_SCORE), left to right; [] when its model is not installed.

    A wide frame is looked at as two overlapping squares (left and right): letterboxed whole, a 16:9
    frame would waste 44% of the detector's small input and lose faces that are far away."""
    detector = load_face_detector()
    if detector is None:
        return []
    h, w = rgb.shape[:2]
    offsets = [0, w - h] if w >= 1.3 * h else [0]
    found = [(Box(b.x + x, b.y, b.w, b.h), score) for x in offsets
             for b, score in detector(rgb if len(offsets) == 1 else rgb[:, x:x + h])]
    if len(offsets) > 1 and found:
        corners = np.array([[b.x, b.y, b.x + b.w, b.y + b.h] for b, _ in found], np.float32)
        merged = weighted_nms(corners, np.array([score for _, score in found], np.float32))
        found = [(Box(round(x1), round(y1), round(x2 - x1), round(y2 - y1)), score)
                 for (x1, y1, x2, y2), score in merged]
    return sorted((box for box, score in found if score >= FACE_SCORE), key=lambda b: b.x)


def is_smiling(grey: np.ndarray, face: Box) -> bool:
    """A clear smile in the lower half of a found face (OpenCV's Haar smile cascade, strict)."""
    smile = load_detector("haarcascade_smile.xml", SMILE_NEIGHBOURS)
    lower = grey[face.y + face.h // 2: face.y + face.h, face.x: face.x + face.w]
    return smile is not None and lower.size > 0 and bool(smile(lower, max(8, face.w // 4)))


def colour_summary(rgb: np.ndarray) -> tuple[str, bool]:
    """(the vivid colour covering NOTABLE_COLOUR of the frame or '', whether the picture is black and white)."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hue, sat, val = hsv[..., 0].ravel(), hsv[..., 1].ravel(), hsv[..., 2].ravel()
    if float(np.mean(sat > 40)) < 0.02:
        return "", True
    vivid = (sat > 110) & (val > 70)
    share: dict[str, float] = {}
    for low, high, name in HUES:
        share[name] = share.get(name, 0.0) + float(np.mean(vivid & (hue >= low) & (hue < high)))
    name, best = max(share.items(), key=lambda kv: kv[1])
    return (name if best >= NOTABLE_COLOUR else ""), False


def measure(image: np.ndarray, motion: float | None = None, scene_changed: bool = False,
            style: str = "") -> SceneFacts:
    """All facts about one HxWx3 uint8 RGB frame; `motion` comes from the caller's frame difference."""
    rgb = analysis_copy(image)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    facts = SceneFacts(width=rgb.shape[1], motion=motion, scene_changed=scene_changed, style=style)
    facts.brightness = float(grey.mean()) / 255.0
    facts.colour, facts.monochrome = colour_summary(rgb)
    if facts.brightness < 0.06:  # too dark for any detector to be trusted
        return facts
    facts.faces = find_faces(rgb)
    equalised = cv2.equalizeHist(grey)
    facts.smiles = sum(is_smiling(equalised, face) for face in facts.faces)
    return facts


THUMB_SIZE = (64, 36)  # (w, h) grey thumbnail for scene change and motion: ~2k pixels, microseconds


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A tiny float grey copy (THUMB_SIZE, values 0..1) for cheap frame comparisons."""
    grey = cv2.cvtColor(cv2.resize(image, THUMB_SIZE, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    return grey.astype(np.float32) / 255.0


def frame_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference (0..1) of two thumbnails: motion between nearby frames, or a scene change."""
    return float(np.mean(np.abs(a - b)))


def motion_between(previous: np.ndarray, current: np.ndarray) -> float:
    """Mean |grey difference| (0..1) of two HxWx3 uint8 RGB frames at thumbnail size."""
    return frame_difference(thumbnail(previous), thumbnail(current))


def colour_histogram(image: np.ndarray) -> np.ndarray:
    """A 16x8 hue/saturation histogram of a thumbnail (normalised), to tell a cut from movement."""
    hsv = cv2.cvtColor(cv2.resize(image, THUMB_SIZE, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
    return cv2.normalize(hist, hist).flatten()


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya distance (0 same .. 1 disjoint) of two colour_histogram()s."""
    return float(cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA))
