"""Hands and what they do: MediaPipe's palm detector, then its 21-point hand landmark model (Apache-2.0),
both from the mediapipe 0.10.14 wheel and run by LiteRT (see litert.py for where the files come from).

The landmark model sees a rotated square around each palm, as mediapipe/modules/hand_landmark does
(palm_detection_detection_to_roi: rotation from wrist to middle knuckle, 2.6x the palm, shifted towards
the fingers). The gesture is read from the 21 joints with plain geometry: which fingers are straight and
reach away from the wrist, which are folded back, and where the thumb points. A gesture that is not
clearly one of these is not named.

Landmarks: 0 wrist; thumb 1-4; index 5-8; middle 9-12; ring 13-16; pinky 17-20 (knuckle .. tip).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime.captioner.blazeface import PALM, Detection, load_blaze
from realtime.captioner.cascade import Box
from realtime.captioner.litert import LiteRTModel, load_model, upright_square

LANDMARK_MODEL = "hand_landmark_lite.tflite"
LANDMARK_SIZE = 224
PRESENCE = 0.8  # the landmark model's own "this is a hand" score (0..1) below which a palm is dropped
MAX_HANDS = 2
ROI_SCALE, ROI_SHIFT = 2.6, -0.5  # palm box -> whole-hand square, as MediaPipe's hand tracking does
STRAIGHT = 0.9  # knuckle-to-tip distance / length along the finger: above this a finger is straight
UPRIGHT = math.cos(math.radians(40))  # a direction counts as "up" within 40 degrees of vertical


@dataclass(frozen=True, eq=False)
class Hand:
    """One hand: its box and 21 joints (x, y) in the image's pixels, and what it is doing.

    gesture: 'open' (all five fingers out), 'thumbs_up', 'pointing', or '' (a fist, or not clear).
    raised: the hand points upwards (fingers above the wrist), as in a wave or a hand held up."""

    box: Box
    joints: np.ndarray
    gesture: str
    raised: bool

    @property
    def size(self) -> float:
        """Wrist to middle knuckle, in pixels: the hand's scale, whatever its pose."""
        return float(np.linalg.norm(self.joints[9] - self.joints[0]))


def _length(points: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())


def finger_state(joints: np.ndarray, knuckle: int) -> str:
    """'out' (straight and reaching away from the wrist), 'folded' (tip back towards the palm), or ''."""
    chain = joints[knuckle:knuckle + 4]
    wrist = joints[0]
    tip_reach = np.linalg.norm(chain[3] - wrist)
    straight = np.linalg.norm(chain[3] - chain[0]) / max(_length(chain), 1e-6)
    if straight >= STRAIGHT and tip_reach > 1.15 * np.linalg.norm(chain[1] - wrist):
        return "out"
    if tip_reach < np.linalg.norm(chain[1] - wrist):
        return "folded"
    return ""


def thumb_state(joints: np.ndarray) -> str:
    """'out' (straight and clear of the index and middle knuckles), 'in' (tucked against the fingers), or ''."""
    chain = joints[1:5]
    straight = np.linalg.norm(chain[3] - chain[1]) / max(_length(chain[1:]), 1e-6)
    palm = np.linalg.norm(joints[9] - joints[0])
    tip = chain[3]
    if straight >= STRAIGHT and np.linalg.norm(tip - joints[5]) >= 0.45 * palm \
            and np.linalg.norm(tip - joints[9]) >= 0.6 * palm:
        return "out"
    if min(np.linalg.norm(tip - joints[k]) for k in (5, 6, 9, 10)) < 0.3 * palm:
        return "in"
    return ""


def pointing_up(start: np.ndarray, end: np.ndarray) -> bool:
    """Whether start -> end points up the image (y grows downwards) within 40 degrees."""
    d = end - start
    return bool(-d[1] >= UPRIGHT * max(np.linalg.norm(d), 1e-6))


def classify(joints: np.ndarray) -> tuple[str, bool]:
    """(gesture, raised) from 21x2 joints; see Hand."""
    fingers = [finger_state(joints, k) for k in (5, 9, 13, 17)]
    thumb = thumb_state(joints)
    raised = pointing_up(joints[0], joints[9])
    if all(f == "out" for f in fingers) and thumb == "out":
        return "open", raised
    if thumb == "out" and all(f == "folded" for f in fingers) and pointing_up(joints[2], joints[4]):
        return "thumbs_up", raised
    if fingers[0] == "out" and all(f == "folded" for f in fingers[1:]):
        return "pointing", raised
    return "", raised


def hand_square(palm: Detection) -> np.ndarray:
    """2x3 affine matrix from the image to the landmark model's LANDMARK_SIZE square around this palm."""
    wrist, middle = palm.keypoints[0], palm.keypoints[2]
    rotation = math.pi / 2 - math.atan2(-(middle[1] - wrist[1]), middle[0] - wrist[0])
    down_the_hand = np.array([-math.sin(rotation), math.cos(rotation)])  # towards the wrist
    x1, y1, x2, y2 = palm.extent  # the palm as the model saw it: a palm at the frame's edge is not squeezed
    centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2]) + ROI_SHIFT * (y2 - y1) * down_the_hand
    return upright_square(centre, ROI_SCALE * max(x2 - x1, y2 - y1), rotation, LANDMARK_SIZE)


class HandLandmarker(LiteRTModel):
    """`landmarker(rgb, palm) -> 21x2 joints in rgb's pixels`, or None when the model says it is no hand."""

    def __init__(self, path: Path):
        super().__init__(path)
        self._joints, self._presence = self.outputs["Identity"], self.outputs["Identity_1"]

    def __call__(self, rgb: np.ndarray, palm: Detection) -> np.ndarray | None:
        to_square = hand_square(palm)
        crop = cv2.warpAffine(rgb, to_square, (LANDMARK_SIZE, LANDMARK_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        self.run(crop.astype(np.float32) / 255.0)
        if float(self.output(self._presence).ravel()[0]) < PRESENCE:
            return None
        joints = self.output(self._joints).reshape(21, 3)[:, :2]
        back = cv2.invertAffineTransform(to_square)
        return joints @ back[:, :2].T + back[:, 2]


def load_landmarker() -> HandLandmarker | None:
    """The hand landmark model, or None when its file or the LiteRT runtime is not installed."""
    return load_model(HandLandmarker, LANDMARK_MODEL)


def find_hands(rgb: np.ndarray) -> list[Hand]:
    """Up to MAX_HANDS hands in an HxWx3 uint8 RGB image, left to right; [] without the models."""
    palms, landmarker = load_blaze(PALM), load_landmarker()
    if palms is None or landmarker is None:
        return []
    h, w = rgb.shape[:2]
    hands = []
    for palm in sorted(palms(rgb), key=lambda p: -p.score)[:MAX_HANDS]:
        joints = landmarker(rgb, palm)
        if joints is None:
            continue
        x1, y1 = np.clip(joints.min(0), 0, [w, h])
        x2, y2 = np.clip(joints.max(0), 0, [w, h])
        gesture, raised = classify(joints)
        hands.append(Hand(Box(round(x1), round(y1), round(x2 - x1), round(y2 - y1)), joints, gesture, raised))
    return sorted(hands, key=lambda hand: hand.box.x)
