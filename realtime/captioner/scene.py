"""Measure a frame: the faces BlazeFace is sure of, where they are and where they look, smiles, hands and
gestures, light, blue sky, notable colour, and motion (the camera's own, and things moving in the picture).

Everything the offline narrator says comes from a `SceneFacts`; nothing is guessed.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from realtime.captioner.blazeface import CLOSE_FACE, FACE, Detection, detections_from_rows, load_blaze, weighted_nms
from realtime.captioner.cascade import Box, load_detector
from realtime.captioner.face_mesh import smile_shape
from realtime.captioner.hands import Hand, find_hands

ANALYSIS_WIDTH = 320  # detectors run on a copy this wide: faces down to ~5% of the frame width
DARK, BRIGHT = 0.22, 0.72  # mean luma (0..1) thresholds
FACE_SCORE = 0.8  # BlazeFace confidence below which a face is not mentioned (0.6-0.8 hits apples and oranges)
# the short-range model: close-ups score 0.92-0.97, the cat, fruit and dogs of the labelled set up to 0.59
CLOSE_FACE_SCORE = 0.85
SMILE_NEIGHBOURS = 20  # Haar smile votes inside a found face: high, so only clear smiles count
CLOSE_UP, FAR = 0.3, 0.07  # face width / frame width: a close-up, or someone far away
# head turn: nose offset from between the eyes, in eye distances. Frontal faces on the labelled set stay
# under 0.12, faces turned to a side are over 0.5; in between nothing is said.
FACING_CAMERA, FACING_AWAY = 0.15, 0.45
# hue ranges (OpenCV hue 0..180) -> colour names; red wraps around
HUES = [(0, 8, "red"), (8, 22, "orange"), (22, 34, "yellow"), (34, 85, "green"), (85, 100, "teal"),
        (100, 130, "blue"), (130, 150, "purple"), (150, 170, "pink"), (170, 181, "red")]
NOTABLE_COLOUR = 0.35  # a colour is worth a remark when this share of the *whole* frame is that vivid colour
# motion between two frames MOTION_GAP_S (service.py) apart, at ANALYSIS_WIDTH:
CAMERA_SHIFT = 1.5  # px: the background moved the frame's corners this far together -> the camera moves
CHANGED_LEVEL = 20  # grey levels: a pixel changed (camera noise and compression stay well under this)
# share of pixels changed (after following the camera): still below STILL, some movement from MOVING (people
# walking across a street: 0.018-0.030 on vtest), busy from BUSY; between STILL and MOVING nothing is said
STILL, MOVING, BUSY = 0.002, 0.008, 0.05
SKY_SHARE = 0.6  # blue sky: this share of the top quarter is smooth, light blue


@dataclass
class SceneFacts:
    """What was measured in one frame. Positions are 'left', 'centre', 'right', or '' when not clear."""

    width: int
    faces: list[Box] = field(default_factory=list)
    smiles: int = 0
    facing: str = ""  # the main face: 'camera' (looking into the lens), 'away' (head turned), '' (not clear)
    hands: list[Hand] = field(default_factory=list)
    waving: bool = False  # a raised open hand moved sideways against a still background
    people_steady: bool = True  # False: the frame 0.2 s earlier had another face count (a detector blink?)
    brightness: float = 0.5  # mean luma 0..1
    colour: str = ""  # one vivid colour that fills much of the frame, else ''
    monochrome: bool = False  # a black-and-white picture
    sky: bool = False  # clear blue sky across the top of the picture
    motion: float | None = None  # share of pixels that changed, the camera's own motion taken out; None: unknown
    camera_moving: bool | None = None  # the whole background shifted together; None: could not tell
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

    @property
    def gesture(self) -> str:
        """What the hands do, most telling first: 'wave', 'thumbs_up', 'pointing', 'open', or ''."""
        if self.waving:
            return "wave"
        gestures = {hand.gesture for hand in self.hands}
        return next((g for g in ("thumbs_up", "pointing", "open") if g in gestures), "")


def analysis_copy(image: np.ndarray) -> np.ndarray:
    """A small RGB copy (ANALYSIS_WIDTH wide) to measure on."""
    h, w = image.shape[:2]
    if w <= ANALYSIS_WIDTH:
        return image
    return cv2.resize(image, (ANALYSIS_WIDTH, max(1, round(h * ANALYSIS_WIDTH / w))), interpolation=cv2.INTER_AREA)


def views(width: int, height: int) -> list[tuple[int, int]]:
    """(left, right) columns the face detector looks at: the whole frame, and for a wide frame also three
    overlapping squares. Whole, a 16:9 frame letterboxed into the detector's small square loses far faces;
    squares alone cut a centred close-up in two."""
    if width < 1.3 * height:
        return [(0, width)]
    return [(0, width)] + [(x, x + height) for x in (0, (width - height) // 2, width - height)]


def _cut_by_view(find: Detection, view: tuple[int, int], width: int) -> bool:
    """Whether a find touches a view's edge that is inside the frame (so it may be half a face)."""
    return (view[0] > 0 and find.box.x <= view[0] + 2) or (view[1] < width and find.box.x + find.box.w >= view[1] - 2)


def _inside_share(a: Box, b: Box) -> float:
    """The share of box a that lies inside box b."""
    w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    return max(0, w) * max(0, h) / max(1, a.w * a.h)


def find_faces(rgb: np.ndarray) -> list[Detection]:
    """Faces BlazeFace is sure of, left to right; [] when its model is not installed. The full-range model
    looks at every view (see views()), the short-range one at the whole frame for close-ups."""
    detector, close_up = load_blaze(FACE), load_blaze(CLOSE_FACE)
    if detector is None:
        return []
    h, w = rgb.shape[:2]
    finds: list[tuple[Detection, bool]] = []
    for view in views(w, h):
        for d in detector(rgb[:, view[0]:view[1]]):
            if d.score >= FACE_SCORE:
                x1, y1, x2, y2 = d.extent
                moved = Detection(Box(d.box.x + view[0], d.box.y, d.box.w, d.box.h), d.score,
                                  d.keypoints + [view[0], 0], (x1 + view[0], y1, x2 + view[0], y2))
                finds.append((moved, _cut_by_view(moved, view, w)))
    if close_up is not None:
        finds += [(d, False) for d in close_up(rgb) if d.score >= CLOSE_FACE_SCORE]
    # a find cut by a square's inner edge is dropped when another find holds most of it (one face, not two)
    kept = [d for d, cut in finds if not cut or not any(
        other is not d and _inside_share(d.box, other.box) > 0.5 for other, _ in finds)]
    if not kept:
        return []
    rows = np.array([[d.box.x, d.box.y, d.box.x + d.box.w, d.box.y + d.box.h, *d.keypoints.ravel()] for d in kept],
                    np.float32)
    merged = detections_from_rows(weighted_nms(rows, np.array([d.score for d in kept], np.float32)), w, h)
    return sorted(merged, key=lambda d: d.box.x)


def facing(face: Detection) -> str:
    """'camera', 'away' or '' from BlazeFace's eye and nose keypoints (how far the nose is off centre)."""
    right_eye, left_eye, nose = face.keypoints[:3]
    eyes = float(np.linalg.norm(left_eye - right_eye))
    if eyes < 10:  # a small face (under ~8% of the frame): its keypoints are too rough (a footballer
        return ""  # looking down at the ball read as "into the lens")
    axis = (left_eye - right_eye) / eyes
    offset = abs(float(np.dot(nose - (left_eye + right_eye) / 2, axis))) / eyes
    return "camera" if offset <= FACING_CAMERA else "away" if offset >= FACING_AWAY else ""


def is_smiling(rgb: np.ndarray, grey: np.ndarray, face: Detection) -> bool:
    """A clear smile: OpenCV's Haar smile cascade (strict) finds one in the lower half of the face, and the face
    mesh (when installed) agrees that the mouth is wide with its corners up (teeth alone are not a smile)."""
    smile, box = load_detector("haarcascade_smile.xml", SMILE_NEIGHBOURS), face.box
    lower = grey[box.y + box.h // 2: box.y + box.h, box.x: box.x + box.w]
    if smile is None or lower.size == 0 or not smile(lower, max(8, box.w // 4)):
        return False
    return smile_shape(rgb, face) is not False


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


def blue_sky(rgb: np.ndarray) -> bool:
    """Clear sky across the top: most of the top quarter is smooth, saturated blue (grey clouds, night skies,
    leaves, walls and text are not). Overcast skies on the labelled set have saturation 50-60, clear ones 200+."""
    top = np.ascontiguousarray(rgb[: max(4, rgb.shape[0] // 4)])
    hue, sat, val = cv2.split(cv2.cvtColor(top, cv2.COLOR_RGB2HSV))
    grey = cv2.GaussianBlur(cv2.cvtColor(top, cv2.COLOR_RGB2GRAY), (3, 3), 0)
    smooth = np.abs(cv2.Laplacian(grey, cv2.CV_16S)) < 6
    sky = (hue >= 95) & (hue <= 125) & (sat >= 90) & (val >= 110) & smooth
    return float(sky.mean()) >= SKY_SHARE


def motion_facts(previous: np.ndarray, current: np.ndarray, ignore: list[Box]) -> tuple[float, bool | None]:
    """(share of pixels that changed, whether the camera moved) between two same-size RGB analysis copies.

    Corners outside `ignore` (faces, arms) are tracked from `previous` to `current` and fitted with one
    shift + zoom + turn (RANSAC): when most of them follow it and it moves the frame's corners by CAMERA_SHIFT
    or more, the camera moved (a pan, a zoom, a handheld drift), and the change is measured after following
    it, so a pan over a still scene is not "lots of movement"."""
    a = cv2.GaussianBlur(cv2.cvtColor(previous, cv2.COLOR_RGB2GRAY), (5, 5), 0)
    b = cv2.GaussianBlur(cv2.cvtColor(current, cv2.COLOR_RGB2GRAY), (5, 5), 0)
    h, w = a.shape
    mask = np.full(a.shape, 255, np.uint8)
    for box in ignore:
        mask[box.y:box.y + box.h, box.x:box.x + box.w] = 0
    corners = cv2.goodFeaturesToTrack(a, 150, 0.01, 6, mask=mask)
    camera, warp, margin = None, None, 2
    if corners is not None and len(corners) >= 12:
        moved, status, _ = cv2.calcOpticalFlowPyrLK(a, b, corners, None, winSize=(15, 15), maxLevel=3)
        back, status_back, _ = cv2.calcOpticalFlowPyrLK(b, a, moved, None, winSize=(15, 15), maxLevel=3)
        # forward-backward check: a track that does not come back to its corner was dragged by something
        # moving near it (at coarse pyramid levels a swinging hand pulls the corners around it)
        round_trip = np.linalg.norm((back - corners).reshape(-1, 2), axis=1)
        ok = (status.ravel() == 1) & (status_back.ravel() == 1) & (round_trip < 0.5)
        if ok.sum() >= 12:
            warp, inliers = cv2.estimateAffinePartial2D(corners[ok], moved[ok], method=cv2.RANSAC,
                                                        ransacReprojThreshold=1.0)
        if warp is not None and float(inliers.mean()) >= 0.5:
            frame_corners = np.float32([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]])
            shift = float(np.abs(frame_corners @ warp.T - frame_corners[:, :2]).max())
            camera = shift >= CAMERA_SHIFT if shift >= CAMERA_SHIFT or shift < CAMERA_SHIFT / 3 else None
            margin += min(int(np.ceil(shift)), min(h, w) // 4)  # edges the camera brought into view are not
            # "movement" (capped: a big shift still leaves half the picture to compare)
    if camera:
        a = cv2.warpAffine(a, warp, (w, h), borderMode=cv2.BORDER_REPLICATE)
    changed = np.abs(a.astype(np.int16) - b)[margin:-margin, margin:-margin] > CHANGED_LEVEL
    return float(changed.mean()) if changed.size else 0.0, camera


def measure(image: np.ndarray, previous: np.ndarray | Sequence[np.ndarray] | None = None,
            scene_changed: bool = False, style: str = "", people_before: int | None = None) -> SceneFacts:
    """All facts about one HxWx3 uint8 RGB frame.

    previous: earlier frames of the same scene (any size), nearest first: about MOTION_GAP_S before, and
      optionally twice that. Motion, the camera and waves are judged against each; "still" needs all of
      them still (a hand waving at a steady beat can be in the same place 0.2 s apart).
    people_before: how many faces the last line saw; when the count differs, the nearest earlier frame is
      looked at too, so one blurred frame is not "they left" (see SceneFacts.people_steady)."""
    rgb = analysis_copy(image)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    facts = SceneFacts(width=rgb.shape[1], scene_changed=scene_changed, style=style)
    facts.brightness = float(grey.mean()) / 255.0
    facts.colour, facts.monochrome = colour_summary(rgb)
    facts.sky = blue_sky(rgb)
    earlier = [] if previous is None else [previous] if isinstance(previous, np.ndarray) else list(previous)
    befores = [cv2.resize(b, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_AREA) if b.shape != rgb.shape
               else b for b in map(analysis_copy, earlier)]
    if facts.brightness < 0.06:  # too dark for any detector to be trusted: who is there is not known
        facts.people_steady = people_before is None
        judge_motion(facts, rgb, befores, [], [])
        return facts
    faces = find_faces(rgb)
    facts.faces = [face.box for face in faces]
    if people_before is not None and len(faces) != people_before and befores:
        facts.people_steady = len(find_faces(befores[0])) == len(faces)
    if faces:
        facts.facing = facing(max(faces, key=lambda d: d.box.w))
    equalised = cv2.equalizeHist(grey)
    facts.smiles = sum(is_smiling(rgb, equalised, face) for face in faces)
    facts.hands = find_hands(rgb)
    raised = [hand for hand in facts.hands if hand.gesture == "open" and hand.raised]
    judge_motion(facts, rgb, befores, facts.faces, raised)
    return facts


def judge_motion(facts: SceneFacts, rgb: np.ndarray, befores: list[np.ndarray], faces: list[Box],
                 raised: list[Hand]) -> None:
    """Fill facts.motion (the most any earlier frame shows), camera_moving (True if the camera moved against
    any, False if against all it held) and waving (a raised open hand swung against a still background)."""
    cameras = []
    for before in befores:
        hands_before = find_hands(before) if raised else []
        arms = [arm_region(hand, rgb.shape) for hand in facts.hands + hands_before]
        motion, camera = motion_facts(before, rgb, faces + arms)
        facts.motion = motion if facts.motion is None else max(facts.motion, motion)
        cameras.append(camera)
        facts.waving |= camera is False and any(is_wave(hand, hands_before) for hand in raised)
    if cameras:
        facts.camera_moving = True if True in cameras else False if all(c is False for c in cameras) else None


def arm_region(hand: Hand, shape: tuple[int, ...]) -> Box:
    """The hand's box, twice as wide and a quarter higher, down to the frame's bottom edge: the forearm (and
    whatever the hand holds) moves with the hand and says nothing about the camera."""
    x = max(0, round(hand.box.x - 0.5 * hand.box.w))
    y = max(0, round(hand.box.y - 0.25 * hand.box.h))
    return Box(x, y, min(shape[1] - x, round(2 * hand.box.w)), shape[0] - y)


def is_wave(hand: Hand, earlier: list[Hand]) -> bool:
    """A raised open hand that moved sideways (a quarter of its size or more, more across than up or down)
    since the earlier frame; the caller has checked that the camera held still."""
    if not earlier:
        return False
    centre = hand.joints.mean(0)
    before = min(earlier, key=lambda e: float(np.linalg.norm(e.joints.mean(0) - centre)))
    dx, dy = np.abs(centre - before.joints.mean(0))
    return bool(dx >= 0.25 * hand.size and dx > 1.5 * dy and np.linalg.norm(centre - before.joints.mean(0)) < 2 * hand.size)


THUMB_SIZE = (64, 36)  # (w, h) grey thumbnail for scene change and motion: ~2k pixels, microseconds


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A tiny float grey copy (THUMB_SIZE, values 0..1) for cheap frame comparisons."""
    grey = cv2.cvtColor(cv2.resize(image, THUMB_SIZE, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    return grey.astype(np.float32) / 255.0


def quick_thumbnail(image: np.ndarray) -> np.ndarray:
    """thumbnail() of every n-th pixel (~128 px wide): cheap enough for every frame of a 1080p stream."""
    step = max(1, image.shape[1] // 128)
    return thumbnail(image[::step, ::step])


def frame_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference (0..1) of two thumbnails: motion between nearby frames, or a scene change."""
    return float(np.mean(np.abs(a - b)))


def content_difference(a: np.ndarray, b: np.ndarray) -> float:
    """frame_difference() of two thumbnails each scaled to zero mean and unit contrast: how much the picture
    itself changed, not its exposure (0 when either is flat, e.g. black: no picture to compare)."""
    sa, sb = float(a.std()), float(b.std())
    if sa < 0.02 or sb < 0.02:
        return 0.0
    return frame_difference((a - a.mean()) / sa, (b - b.mean()) / sb)


def colour_histogram(image: np.ndarray) -> np.ndarray:
    """A 16x8 hue/saturation histogram of a thumbnail (normalised), to tell a cut from movement."""
    hsv = cv2.cvtColor(cv2.resize(image, THUMB_SIZE, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
    return cv2.normalize(hist, hist).flatten()


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya distance (0 same .. 1 disjoint) of two colour_histogram()s."""
    return float(cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA))
