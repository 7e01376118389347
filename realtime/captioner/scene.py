"""Measure a frame: who/what the detectors find and where, light, colour and motion.

Everything the offline narrator says comes from a `SceneFacts`; nothing is guessed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from realtime.captioner.cascade import Box, load_detector

ANALYSIS_WIDTH = 320  # detectors run on a copy this wide: faces down to ~8% of the frame width
DARK, BRIGHT = 0.25, 0.72  # mean luma (0..1) thresholds
STILL, BUSY = 0.012, 0.06  # mean |grey difference| (0..1) between two nearby frames
# hue ranges (OpenCV hue 0..180) -> colour names; red wraps around
HUES = [(0, 8, "red"), (8, 22, "orange"), (22, 34, "yellow"), (34, 85, "green"), (85, 100, "teal"),
        (100, 130, "blue"), (130, 150, "purple"), (150, 170, "pink"), (170, 181, "red")]
WARM, COOL = {"red", "orange", "yellow", "pink"}, {"green", "teal", "blue", "purple"}
DETECTORS = {  # what -> (cascade file, min_neighbors)
    "faces": ("haarcascade_frontalface_default.xml", 4),
    "cats": ("haarcascade_frontalcatface.xml", 3),
    "smiles": ("haarcascade_smile.xml", 20),
    "upper_bodies": ("haarcascade_upperbody.xml", 3),
    "full_bodies": ("haarcascade_fullbody.xml", 3),
}


@dataclass
class SceneFacts:
    """What was measured in one frame. Positions are 'left', 'centre' or 'right'."""

    width: int
    faces: list[Box] = field(default_factory=list)
    smiles: int = 0
    bodies: list[Box] = field(default_factory=list)  # people found by body shape, not already a face
    cats: list[Box] = field(default_factory=list)
    brightness: float = 0.5  # mean luma 0..1
    colours: list[str] = field(default_factory=list)  # dominant named colours, most first
    mood: str = "neutral"  # warm / cool / neutral / grey
    motion: float | None = None  # None: no earlier frame to compare with
    scene_changed: bool = False
    style: str = ""

    def where(self, box: Box) -> str:
        third = box.centre_x / self.width
        return "left" if third < 0.38 else "right" if third > 0.62 else "centre"

    @property
    def people(self) -> int:
        return len(self.faces) + len(self.bodies)


def analysis_copy(image: np.ndarray) -> np.ndarray:
    """A small RGB copy (ANALYSIS_WIDTH wide) to measure on."""
    h, w = image.shape[:2]
    if w <= ANALYSIS_WIDTH:
        return image
    return cv2.resize(image, (ANALYSIS_WIDTH, max(1, round(h * ANALYSIS_WIDTH / w))), interpolation=cv2.INTER_AREA)


def detect(what: str, grey: np.ndarray, min_size: int = 24) -> list[Box]:
    """Boxes of one kind of object (see DETECTORS), [] when its cascade is not installed here."""
    filename, neighbours = DETECTORS[what]
    detector = load_detector(filename, neighbours)
    return detector(grey, min_size) if detector is not None else []


def available_detectors() -> list[str]:
    return [what for what, (filename, n) in DETECTORS.items() if load_detector(filename, n) is not None]


def _scaled(box: Box, factor: float) -> Box:
    """A box found on a downscaled copy, in the analysed image's pixels (bodies are big: half size is enough)."""
    return Box(int(box.x * factor), int(box.y * factor), int(box.w * factor), int(box.h * factor))


def _overlaps(a: Box, b: Box) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def colour_summary(rgb: np.ndarray) -> tuple[list[str], str]:
    """Dominant named colours (each >= 15% of the colourful pixels) and the warm/cool mood."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hue, sat, val = hsv[..., 0].ravel(), hsv[..., 1].ravel(), hsv[..., 2].ravel()
    colourful = (sat > 70) & (val > 50)
    if colourful.mean() < 0.12:
        return [], "grey"
    hues = hue[colourful]
    share: dict[str, float] = {}
    for low, high, name in HUES:
        share[name] = share.get(name, 0.0) + float(np.mean((hues >= low) & (hues < high)))
    names = [n for n, s in sorted(share.items(), key=lambda kv: -kv[1]) if s >= 0.15][:2]
    warm = sum(s for n, s in share.items() if n in WARM)
    cool = sum(s for n, s in share.items() if n in COOL)
    mood = "warm" if warm > 0.6 else "cool" if cool > 0.6 else "neutral"
    return names, mood


def measure(image: np.ndarray, motion: float | None = None, scene_changed: bool = False,
            style: str = "") -> SceneFacts:
    """All facts about one HxWx3 uint8 RGB frame; `motion` comes from the caller's frame difference."""
    rgb = analysis_copy(image)
    grey = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    facts = SceneFacts(width=rgb.shape[1], motion=motion, scene_changed=scene_changed, style=style)
    facts.brightness = float(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).mean()) / 255.0
    facts.colours, facts.mood = colour_summary(rgb)
    if facts.brightness < 0.06:  # too dark for any detector to be trusted
        return facts
    facts.faces = detect("faces", grey)
    for face in facts.faces:
        lower = grey[face.y + face.h // 2: face.y + face.h, face.x: face.x + face.w]
        if lower.size and detect("smiles", lower, min_size=max(8, face.w // 4)):
            facts.smiles += 1
    bodies = [_scaled(b, 2) for what in ("upper_bodies", "full_bodies") for b in detect(what, grey[::2, ::2].copy())]
    facts.bodies = [b for b in bodies if not any(_overlaps(b, f) for f in facts.faces)]
    facts.cats = [c for c in detect("cats", grey) if not any(_overlaps(c, f) for f in facts.faces)]
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
