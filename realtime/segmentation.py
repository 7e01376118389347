"""Where the person is: MediaPipe's selfie segmentation, made into a mask whose edges a viewer accepts.

The model (Apache-2.0, 250 KB, inside the mediapipe wheel; scripts/setup.sh copies it out) sees the frame at
256x144 (or 256x256 for upright frames) and answers a person probability per pixel. Three steps make that
usable at full size on a live stream:

1. Temporal smoothing at the model's size, as MediaPipe's own SegmentationSmoothingCalculator does: a pixel
   the model is sure about takes the new answer at once (a moving person is followed without a lag trail),
   a pixel it hesitates about (p near 0.5: the outline) leans on the previous answer, so a still outline
   does not shimmer. Where the picture itself changed (someone left, a cut) nothing is carried over.
2. Guided upsampling (He et al., guided filter, fitted at the model's size and applied at full size): the
   mask's edge follows the frame's own edges (hair, shoulders) instead of a blurry or blocky enlargement.
3. A feather band: probabilities below FEATHER[0] become exactly 0 and above FEATHER[1] exactly 1, with a
   ramp between, so the untouched part of the frame is the input pixel for pixel.

Each input keeps its own history (PersonMasks: one masker per WebRTC peer), and a masker starts afresh
when its frames stop being consecutive or change size, so no mask is carried from one picture to another.

The model's ai-edge-litert build runs MediaPipe's custom op Convolution2DTransposeBias itself (checked in
tests/test_segmentation.py), so the file is used as it ships.
"""
from __future__ import annotations

import math
import time

import cv2
import numpy as np

from common.errors import UserError
from export.upscale import box_filter
from realtime.captioner.litert import LiteRTModel, find_model, load_model
from realtime.frames import Frame

APPLY_MODES = ("all", "background", "person")  # what --apply styles
LANDSCAPE_MODEL = "selfie_segmentation_landscape.tflite"  # 144x256 input: webcams, streams, most video
SQUARE_MODEL = "selfie_segmentation.tflite"  # 256x256 input: upright (phone) frames
PREVIOUS_RATIO = 0.7  # how much an uncertain pixel keeps of the previous frame (MediaPipe's selfie graph: 0.7)
MOTION_NOISE, MOTION_FULL = 0.03, 0.15  # change (0-1 intensity, at the model's size) below: noise; above: moved
RADIUS = 2  # guided filter window radius at the model's size (5x5 px there, ~25 px of a 720p frame)
EPS = 1e-3  # guided filter regulariser ((intensity in [0,1])^2): flatter windows keep the model's own mask
FEATHER = (0.25, 0.75)  # mask values mapped to 0 and 1; between them a linear ramp (a few px wide)
AUTO_SHARE = 0.25  # --mask-every auto: the mask may take this share of the time between frames (it runs
# beside the style network, so below that it costs little; above, it is what holds the frame rate back)
MAX_EVERY = 4  # ... and is run at least every this many frames, holding the mask in between
HOLD_UNTIL_MOVED = 0.05  # ... unless this share of the picture changed since (a cut, someone walking out)
INSTALL_HINT = ("the selfie segmentation model is not installed: run `bash scripts/setup.sh`, which copies it "
                "out of the mediapipe wheel (or point STYLECAST_MEDIAPIPE at a folder holding {name})")


class SelfieModel(LiteRTModel):
    """One selfie segmentation model: an HxWx3 uint8 RGB frame -> person probability at the model's size."""

    def __init__(self, path):
        super().__init__(path)
        shape = self._interpreter.get_input_details()[0]["shape"]
        self.size = (int(shape[1]), int(shape[2]))  # (h, w)
        self._output = self.output_details[0]["index"]

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self.predict(self.model_input(frame))

    def model_input(self, frame: np.ndarray) -> np.ndarray:
        """The frame as the model sees it: its size, float RGB in [0, 1]."""
        h, w = self.size
        return cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) * np.float32(1 / 255)

    def predict(self, small: np.ndarray) -> np.ndarray:
        self.run(small)
        return self.output(self._output)[0, :, :, 0].copy()


def model_file(frame_hw: tuple[int, int]) -> str:
    """The landscape model for frames at least 3:2 wide (16:9 webcams and video), the square one for the rest.

    4:3 frames (640x480 webcams, the browser page's default) sit exactly halfway between the two models'
    shapes; on the hand-outlined photos (bench/segmentation.py) the square model found people there that the
    squashed landscape view missed: mean IoU 0.885 against 0.829."""
    h, w = frame_hw
    return LANDSCAPE_MODEL if w >= 1.5 * h else SQUARE_MODEL


def selfie_model(frame_hw: tuple[int, int]) -> SelfieModel:
    """The model for frames of this shape, loaded once; a UserError saying how to install it when missing."""
    name = model_file(frame_hw)
    model = load_model(SelfieModel, name)
    if model is None:
        if find_model(name) is not None:
            raise UserError(f"cannot run the selfie segmentation model {find_model(name)} "
                            "(is ai-edge-litert installed? `bash scripts/setup.sh` installs it)")
        raise UserError(INSTALL_HINT.format(name=name))
    return model


def check_model_installed() -> None:
    """Fail early (before a camera opens) when --apply needs a model that is not there."""
    selfie_model((720, 1280))
    selfie_model((720, 720))


def smooth(previous: np.ndarray | None, new: np.ndarray, ratio: float = PREVIOUS_RATIO,
           motion: np.ndarray | None = None) -> np.ndarray:
    """Mix the previous mask into the new one where the new one is uncertain (entropy near 1 at p = 0.5) and the
    picture itself did not change there (motion: 0 = still, 1 = changed; a person who leaves or a cut is
    followed at once instead of leaving a fading ghost of the old outline)."""
    if previous is None or previous.shape != new.shape or ratio <= 0:
        return new
    p = np.clip(new, 1e-6, 1 - 1e-6)
    entropy = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    keep = (1 - (1 - entropy) ** 2) * np.float32(ratio)
    if motion is not None:
        keep *= 1 - motion
    return (new + (previous - new) * keep).astype(np.float32)


def motion(previous: np.ndarray | None, current: np.ndarray) -> np.ndarray | None:
    """Per pixel of the model's input: how much the picture changed since the previous one, 0 (still, or only
    sensor noise) to 1 (a change of MOTION_FULL or more)."""
    if previous is None or previous.shape != current.shape:
        return None
    change = cv2.absdiff(previous, current).max(axis=-1)
    return np.clip((change - np.float32(MOTION_NOISE)) * np.float32(1 / (MOTION_FULL - MOTION_NOISE)), 0.0, 1.0)


def guided_upsample(mask_small: np.ndarray, frame: np.ndarray, radius: int = RADIUS, eps: float = EPS,
                    band: tuple[float, float] = FEATHER) -> np.ndarray:
    """hxw float mask + HxWx3 uint8 frame -> HxW float32 mask whose edges follow the frame's brightness edges,
    feathered: values below band[0] become exactly 0, above band[1] exactly 1, a linear ramp between.

    The guided filter's linear model `mask ~ a * luma + b` is fitted in every window at the mask's size (cheap)
    and evaluated at full size with the full-size luma (He & Sun's fast guided filter). The luma's 1/255 and the
    feather's ramp are folded into a and b first, so the full-size work is two resizes, one multiply-add and
    a clip."""
    h, w = mask_small.shape
    luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    guide = cv2.resize(luma, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) * np.float32(1 / 255)
    mean_g, mean_m = box_filter(guide, radius), box_filter(mask_small, radius)
    cov = box_filter(guide * mask_small, radius) - mean_g * mean_m
    var = box_filter(guide * guide, radius) - mean_g * mean_g
    a = cov / (var + np.float32(eps))
    b = mean_m - a * mean_g
    low, high = band
    ramp = np.float32(1 / (high - low))
    a = box_filter(a, radius) * (ramp / np.float32(255))
    b = (box_filter(b, radius) - np.float32(low)) * ramp
    size = (frame.shape[1], frame.shape[0])
    mask = cv2.multiply(luma, cv2.resize(a, size, interpolation=cv2.INTER_LINEAR), dtype=cv2.CV_32F)
    mask += cv2.resize(b, size, interpolation=cv2.INTER_LINEAR)
    return np.clip(mask, 0.0, 1.0, out=mask)


class PersonMasker:
    """Frames of one input, in order -> HxW float32 person masks in [0, 1] (1 = person).

    every: work the mask out every N frames and hold it in between; None = auto: N = 1 while the mask takes at
    most AUTO_SHARE of the time between frames, more under CPU pressure, never more than MAX_EVERY.
    """

    def __init__(self, every: int | None = None, smoothing: float = PREVIOUS_RATIO):
        if every is not None and every < 1:
            raise UserError("--mask-every must be >= 1 or auto")
        self.fixed_every = every
        self.every = every or 1
        self.smoothing = smoothing
        self._low: np.ndarray | None = None  # smoothed probability at the model's size
        self._mask: np.ndarray | None = None  # the last full-size mask (held while the model is not due)
        self._small: np.ndarray | None = None  # the model's input last time (what changed since)
        self._shape: tuple[int, ...] = ()
        self._since = 0  # frames since the model last ran
        self._mask_s = 0.0  # moving averages: the whole mask's time, time between frames
        self._interval_s = 0.0
        self._last_call = 0.0

    def reset(self) -> None:
        """Forget the previous frames (a new input, a cut, a pause)."""
        self._low, self._mask, self._small, self._since, self._last_call = None, None, None, 0, 0.0

    def __call__(self, frame: np.ndarray, fresh: bool = False) -> np.ndarray:
        """fresh: nothing from earlier frames may be mixed in (a new input, a pause, a photo of its own)."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise UserError(f"the person mask needs HxWx3 uint8 RGB frames, not {frame.shape} {frame.dtype}")
        if fresh or frame.shape != self._shape:  # a new framing: the old mask would sit in the wrong place
            self.reset()
            self._shape = frame.shape
        if frame.shape[0] < 2 or frame.shape[1] < 2:  # a 1-px line has no outline to find: all background
            return np.zeros(frame.shape[:2], np.float32)
        started = time.perf_counter()
        if self._last_call:
            self._interval_s = _average(self._interval_s, started - self._last_call)
        self._last_call = started
        model = selfie_model(frame.shape[:2])
        small = model.model_input(frame)
        moved = motion(self._small, small)
        if self._mask is not None and self._since + 1 < self.every and moved is not None \
                and float(np.mean(moved > 0.5)) < HOLD_UNTIL_MOVED:
            self._since += 1
            return self._mask  # held: the frames in between cost a resize
        self._low = smooth(self._low, model.predict(small), self.smoothing, moved)
        self._small, self._since = small, 0
        self._mask = guided_upsample(self._low, frame)
        self._mask_s = _average(self._mask_s, time.perf_counter() - started)
        if self.fixed_every is None:
            self.every = auto_every(self._mask_s, self._interval_s)
        return self._mask


class PersonMasks:
    """One PersonMasker per input sharing a processor (the WebRTC peers), each fresh when its frames are not
    consecutive (the first frame, a pause with the style off, a dropped run of frames)."""

    MAX_INPUTS = 32

    def __init__(self, every: int | None = None):
        self.every = every
        self._maskers: dict[int, tuple[PersonMasker, int]] = {}  # input -> (its masker, its last frame's index)

    def __call__(self, frame: Frame, stills: bool = False) -> tuple[np.ndarray, float]:
        """(the frame's person mask, seconds it took); stills: every frame is a photo of its own."""
        started = time.perf_counter()
        masker, last = self._maskers.pop(frame.input_id, (None, -2))
        masker = masker or PersonMasker(self.every)
        mask = masker(frame.image, fresh=stills or frame.index != last + 1)
        self._maskers[frame.input_id] = (masker, frame.index)  # now the most recently used
        while len(self._maskers) > self.MAX_INPUTS:
            self._maskers.pop(next(iter(self._maskers)))
        return mask, time.perf_counter() - started

    def forget(self, input_id: int) -> None:
        self._maskers.pop(input_id, None)


def auto_every(mask_s: float, interval_s: float) -> int:
    """How often the model runs: every frame while the mask costs <= AUTO_SHARE of a frame's time, else less."""
    if interval_s <= 0:
        return 1
    return max(1, min(MAX_EVERY, math.ceil(mask_s / (AUTO_SHARE * interval_s))))


def _average(old: float, new: float, weight: float = 0.1) -> float:
    return new if old == 0 else old + (new - old) * weight


def composite(original: np.ndarray, styled: np.ndarray, mask: np.ndarray, apply: str) -> np.ndarray:
    """The styled frame where `apply` says, the original elsewhere (mask: 1 = person), blended along the feather."""
    if apply == "all":
        return styled
    other = np.subtract(np.float32(1), mask)
    person, background = (mask, other) if apply == "person" else (other, mask)
    return cv2.blendLinear(styled, original, person, background)
