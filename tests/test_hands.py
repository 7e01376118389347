"""Hands on a real photo (OpenCV's documentation photo of an open hand): found, read as open, raised when
the fingers point up; gestures from joint layouts; a wave only for a raised open hand moving sideways
against a still background, not for a hand slid flat, a camera pan or a hand held still."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.narration import hand_over
from realtime.captioner.hands import classify, find_hands, load_landmarker
from realtime.captioner.scene import measure

SET = Path(__file__).resolve().parents[1] / "bench" / "narration_set"

pytestmark = pytest.mark.skipif(load_landmarker() is None,
                                reason="MediaPipe's hand models are not installed (bash scripts/setup.sh)")


def photo(name: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(SET / f"{name}.jpg")), cv2.COLOR_BGR2RGB)


def flat_hand() -> np.ndarray:
    """The open hand lying on a table, fingers pointing right."""
    return photo("cv_hand")


def raised_hand() -> np.ndarray:
    """The same hand turned so the fingers point up, as a hand held up to a camera."""
    return np.ascontiguousarray(np.rot90(flat_hand()))


def street() -> np.ndarray:
    return cv2.resize(photo("cv_leuvenA"), (320, 240), interpolation=cv2.INTER_AREA)


def test_real_open_hand_is_found_and_read() -> None:
    [flat] = find_hands(flat_hand())
    assert flat.gesture == "open" and not flat.raised
    [up] = find_hands(raised_hand())
    assert up.gesture == "open" and up.raised
    tips, wrist = up.joints[[8, 12, 16, 20]], up.joints[0]
    assert (tips[:, 1] < wrist[1] - up.size).all()  # every fingertip well above the wrist
    assert not find_hands(photo("sk_coffee")) and not find_hands(photo("cv_fruits"))


def joints(thumb: list[tuple[float, float]], fingers: dict[int, str]) -> np.ndarray:
    """21 joints of an upright right hand (wrist at the bottom): each finger 'out' (straight up) or folded."""
    points = np.zeros((21, 2))
    points[0] = (0, 0)
    points[1:5] = thumb
    for k, x in zip((5, 9, 13, 17), (-15, -5, 5, 15)):
        base = np.array([x, -40.0])
        if fingers.get(k, "folded") == "out":
            points[k:k + 4] = [base + (0, -12 * i) for i in range(4)]
        else:  # curled down into the palm
            points[k:k + 4] = [base, base + (0, -10), base + (3, -4), base + (3, 4)]
    return points


THUMB_OUT_SIDE = [(-12, -8), (-22, -16), (-32, -24), (-42, -32)]
THUMB_UP = [(-12, -8), (-18, -40), (-18, -55), (-18, -70)]
THUMB_TUCKED = [(-12, -8), (-18, -20), (-12, -32), (-8, -36)]


@pytest.mark.parametrize("layout, gesture", [
    (joints(THUMB_OUT_SIDE, {5: "out", 9: "out", 13: "out", 17: "out"}), "open"),
    (joints(THUMB_UP, {}), "thumbs_up"),
    (joints(THUMB_TUCKED, {5: "out"}), "pointing"),
    (joints(THUMB_TUCKED, {}), ""),  # a fist says nothing
    (joints(THUMB_TUCKED, {5: "out", 9: "out"}), ""),  # a V is not named
])
def test_gestures_from_joint_layouts(layout: np.ndarray, gesture: str) -> None:
    assert classify(layout)[0] == gesture


def waves(frames: list[np.ndarray], gap: int = 2) -> list[bool]:
    """Whether a wave is seen at each frame, against the frame `gap` earlier (0.2 s at 10 fps)."""
    return [measure(frames[i], frames[i - gap]).waving for i in range(gap, len(frames), 3)]


def test_raised_hand_swinging_sideways_is_a_wave() -> None:
    seen = waves([hand_over(street(), raised_hand(), i / 10) for i in range(30)])
    assert sum(seen) >= 0.6 * len(seen), seen


@pytest.mark.parametrize("case", ["flat hand slid sideways", "camera pan", "hand held still"])
def test_not_a_wave(case: str) -> None:
    if case == "flat hand slid sideways":
        frames = [hand_over(street(), flat_hand(), i / 10) for i in range(30)]
    elif case == "camera pan":  # the whole picture, hand and street, slides together
        wide = cv2.resize(hand_over(street(), raised_hand(), 0.0, swing=0), (480, 360), interpolation=cv2.INTER_AREA)
        frames = [np.ascontiguousarray(wide[60:300, 5 * i:5 * i + 320]) for i in range(30)]
        assert measure(frames[10], frames[8]).camera_moving
    else:
        rng = np.random.default_rng(0)
        frames = [np.clip(hand_over(street(), raised_hand(), 0.0, swing=0) + rng.normal(0, 2, (240, 320, 3)), 0,
                          255).astype(np.uint8) for _ in range(30)]
    assert not any(waves(frames)), case
