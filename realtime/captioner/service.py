"""CaptionService: narrates the video from a worker thread so the frame loop never waits for it.

The frame loop calls `offer()` for every frame; that stores a reference to the newest frame (no copy)
and, live, compares a ~2k-pixel thumbnail with the previous frame's to end the line on screen at a cut.
The worker looks at the newest frame a few times a second (wall clock, so it costs little CPU however
fast the loop runs), keeps tiny grey thumbnails for scene-change
and motion measurements, and narrates when `every_s` seconds of *video* time (pts) have passed since
the last line or the scene changed a lot. Each line is published as a `Caption` starting at the pts of
the frame it describes (in step) or of the newest frame when it is ready (live), and handed to the subscribers (subtitle files, OBS text, WebRTC data channel).
"""
from __future__ import annotations

import bisect
import collections
import dataclasses
import logging
import math
import os
import threading
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from realtime.captioner.base import Caption
from realtime.captioner.scene import (colour_histogram, content_difference, frame_difference, histogram_distance,
                                      quick_thumbnail, thumbnail)
from realtime.captioner.timing import MAX_SECONDS, reading_seconds
from realtime.frames import Frame

log = logging.getLogger(__name__)

LOOK_EVERY_S = 0.2  # wall-clock interval between the worker's looks at the newest frame
# A cut: the thumbnail jumps by SCENE_CHANGE (mean |difference|, 0..1) and by CUT_OVER_MOTION times the
# recent frame-to-frame change, or by half that with a different colour histogram. On the labelled clips
# of bench/narration.py cuts jump 0.16-0.38 and motion between looks stays below 0.01.
SCENE_CHANGE = 0.12
CUT_OVER_MOTION = 4.0
HISTOGRAM_CHANGE = 0.45  # Bhattacharyya distance of hue/saturation histograms
MOTION_GAP_S = 0.2  # motion is measured against the frame about this long before (video seconds)
# A jump is a new scene if the picture has not come back this long after it (else a flash); by then the
# new scene also has a frame MOTION_GAP_S old, so even its first line can tell motion and waves.
FLASH_S = MOTION_GAP_S
# A dissolve (a cross-fade between two shots): over DISSOLVE_S the picture changed by SCENE_CHANGE, the
# frame half-way is the average of the two ends (a pan or a zoom is not: its middle is a third picture),
# and the last MOTION_GAP_S changed little (the fade is over, so the line describes the new shot).
DISSOLVE_S = 1.0
DISSOLVE_BLEND = 0.4  # |middle - average of the ends| / |end - start| at most
DISSOLVE_SETTLED = 0.2  # change over the last MOTION_GAP_S / change over DISSOLVE_S at most
DISSOLVE_CONTENT = 0.5  # and the picture itself changed (content_difference): lights dimming or the camera's
# exposure settling is not a new shot (0.01-0.03); the demo's cross-fades measure 1.0-1.3
BLACK = 0.06  # mean grey (0..1) of a thumbnail below which the picture is black (a fade, a covered lens)
LIVE_MIN_GAP_S = 0.5  # live, cuts closer than this (a flicker, a flash) get one line, not one each
HOLD_S = 1.0  # a line stays this long past the next due line, so lines follow each other without gaps
KEEP_CAPTIONS = 64


@dataclass
class Observation:
    """What a narrator gets: the frame to describe and what the service measured around it.

    image: HxWx3 uint8 RGB (the camera/source frame, before styling).
    previous: HxWx3 uint8 RGB, the frame of the same scene looked at about MOTION_GAP_S before (0.15-2 s),
      or None; the offline narrator measures motion and waves against it.
    earlier: the same, about 2 x MOTION_GAP_S before (0.3-2 s): a second look, since a hand waving at a steady
      beat can be in the same place 0.2 s apart.
    motion: mean |grey difference| (0..1) between `previous` and `image` thumbnails, None without one
      (a cheap figure for narrators that want one; the offline narrator measures its own).
    """

    image: np.ndarray
    pts: float
    style_name: str
    previous: np.ndarray | None = None
    motion: float | None = None
    earlier: np.ndarray | None = None
    refresh: bool = False  # the same place said afresh (the lights went off or came back on): no "new scene"
    photo: bool = False  # one photo of a folder: every frame is a picture of its own
    scene_changed: bool = False
    first: bool = False


class Narrator(Protocol):
    """Turns one observation into a spoken-style line (None: nothing worth saying)."""

    lang: str

    def describe(self, observation: Observation) -> str | None: ...


def _lower_priority() -> None:
    """Make the calling thread "nice" (Linux: per thread) so narration only uses CPU the frame loop leaves."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 15)
    except (AttributeError, OSError):  # not Linux / not allowed: run at normal priority
        pass


class CaptionService:
    """The CaptionSource used by `run` and `serve`: narration from a worker thread, timed in pts.

    Two modes:
    - live (cameras, streams, the browser, paced files): offer() keeps only the newest frame, the
      worker looks a few times a second, and nothing ever waits for the narrator; a line shows up
      on screen as soon as it is ready.
    - in_step (files rendered as fast as possible): the worker sees every frame in order and
      `active(pts)` waits until every frame up to `pts` has been considered, so each line is burned
      in from the very frame it describes. offer() still returns at once; the wait happens in the
      pipeline's overlay stage, which for files already runs with back-pressure.
    """

    def __init__(self, narrator: Narrator, every_s: float = 4.0, look_every_s: float = LOOK_EVERY_S,
                 scene_change: float = SCENE_CHANGE, in_step: bool = False, wait_limit_s: float = 60.0,
                 stills: bool = False):
        """stills: every frame is a photo of its own (a folder of images), so each is a new scene with a line."""
        if every_s <= 0:
            raise ValueError("every_s must be positive")
        self.narrator = narrator
        self.lang = narrator.lang
        self.every_s = every_s
        self.look_every_s = 0.0 if in_step else look_every_s
        self.scene_change = scene_change
        self.in_step = in_step
        self.stills = stills
        self.wait_limit_s = wait_limit_s
        self.captions: list[Caption] = []  # published, in start order
        self.errors = 0
        self._starts: list[float] = []
        self._latest: tuple[Frame, str] | None = None
        self._newest_pts = -math.inf  # live: the video's "now", where a freshly narrated line starts
        self._queue: collections.deque[tuple[Frame, str]] = collections.deque()  # in_step only
        self._considered = -math.inf  # pts of the frame the worker last looked at (in step: and every one before)
        self._subscribers: list[Callable[[Caption], None]] = []
        self._lock = threading.Lock()
        self._progress = threading.Condition(self._lock)
        self._new_frame = threading.Event()
        self._stop = threading.Event()
        self._history: collections.deque[tuple[float, np.ndarray, np.ndarray]] = collections.deque(maxlen=32)
        self._thumbs: collections.deque[tuple[float, np.ndarray]] = collections.deque(maxlen=256)  # for dissolves
        self._last_caption: float | None = None  # pts of the last narrated frame
        self._previous: tuple[float, tuple[int, ...], np.ndarray, np.ndarray] | None = None  # pts, shape, thumb, hist
        self._changes: collections.deque[float] = collections.deque(maxlen=8)  # recent look-to-look differences
        self._cut_pending = False  # a cut seen but not narrated yet (live: too soon after the last line)
        self._last_quick: np.ndarray | None = None  # live: the previous frame's quick_thumbnail()
        self._usual_jump = 0.0  # live: recent frame-to-frame change of quick thumbnails (running average)
        self._cut_seen: np.ndarray | None = None  # live: the frame before a jump offer() saw, not yet handled
        self._cut_lock = threading.Lock()  # _cut_seen is set by the frame loop's thread, taken by the worker
        # a jump being checked: its pts, the thumbnail and colour histogram (None: not known) before it
        self._jump: tuple[float, np.ndarray, np.ndarray | None] | None = None
        self._before_jump: tuple[np.ndarray, np.ndarray] = (np.zeros(1), np.zeros(1))  # the look before a jump
        self._last_lit: tuple[np.ndarray, np.ndarray] | None = None  # the last look not black: thumbnail, histogram
        self._cut_original: Caption | None = None  # the line a jump ended, as it was (restored after a flash)
        self._started_at: float | None = None  # pts of the first frame considered
        self._cut_short: Caption | None = None  # live: a line offer() ended, not yet told to the subscribers
        self._worker = threading.Thread(target=self._run, name="captioner", daemon=True)
        self._worker.start()

    # --- the frame loop's side (never blocks) -----------------------------------------------

    def offer(self, frame: Frame, style_name: str) -> None:
        """Hand over a frame without copying it; never waits for the narrator (live: ~0.1 ms of cut check)."""
        if self.in_step:
            self._queue.append((frame, style_name))  # deque.append is thread-safe
        else:
            self._latest = (frame, style_name)  # one reference swap: atomic under the GIL
            self._newest_pts = frame.pts
            try:
                self._end_line_at_cut(frame)
            except Exception:  # an odd frame must not stop the video; the worker still looks for cuts
                log.debug("cut check failed on the frame at %.2fs", frame.pts, exc_info=True)
        self._new_frame.set()

    def _end_line_at_cut(self, frame: Frame) -> None:
        """Live: at a hard cut, end the line on screen at the cut's very frame (the worker only looks every
        LOOK_EVERY_S, and would leave the old line over the first frames of the new scene). ~0.1 ms a frame.
        A cut is a jump of SCENE_CHANGE that is also CUT_OVER_MOTION times the recent frame-to-frame change."""
        quick = quick_thumbnail(frame.image)
        before, self._last_quick = self._last_quick, quick
        if before is None or before.shape != quick.shape:
            return
        jump = frame_difference(quick, before)
        if jump >= self.scene_change and jump >= CUT_OVER_MOTION * self._usual_jump:
            self._end_active(frame.pts, notify=False)  # subscribers hear of it once the worker knows it is a cut
            with self._cut_lock:  # the worker decides even if its own look misses the jump; a second jump (back,
                if self._cut_seen is None:  # after a flash) keeps the picture before the first
                    self._cut_seen = before
        # jumps count too (capped): under a strobe the usual change grows, so not every flash ends the line
        self._usual_jump += 0.2 * (min(jump, 2 * self.scene_change) - self._usual_jump)

    def active(self, pts: float) -> Caption | None:
        """The newest caption that has started by `pts` and not yet ended (in_step: once it is known)."""
        with self._progress:
            if self.in_step:
                self._progress.wait_for(lambda: self._considered >= pts or self._stop.is_set(), self.wait_limit_s)
            i = bisect.bisect_right(self._starts, pts)
            if i == 0:
                return None
            caption = self.captions[i - 1]
        return caption if pts < caption.end else None

    def wait_seen(self, pts: float, timeout: float | None = None) -> bool:
        """Wait until the worker has looked at a frame at or after video time `pts` (in step: at every frame up
        to it), narration included; False if `timeout` seconds pass first or the service is closed.

        Live, the worker looks at whichever frame is newest when it is free, so this is how a caller that
        replays frames (a benchmark or test of the live mode) has a chosen frame looked at, on any machine."""
        with self._progress:
            self._progress.wait_for(lambda: self._considered >= pts or self._stop.is_set(), timeout)
            return self._considered >= pts

    def subscribe(self, callback: Callable[[Caption], None]) -> None:
        with self._lock:
            self._subscribers.append(callback)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker (lets a narration in progress finish, up to `timeout` seconds)."""
        self._stop.set()
        self._new_frame.set()
        with self._progress:
            self._progress.notify_all()
        self._worker.join(timeout)
        self._tell_cut_short()  # a line the last frames ended early still reaches the subtitle files
        close = getattr(self.narrator, "close", None)
        if close is not None:
            close()

    # --- the worker -------------------------------------------------------------------------

    def _next_frame(self) -> tuple[Frame, str] | None:
        if self.in_step:
            return self._queue.popleft() if self._queue else None
        latest, self._latest = self._latest, None
        return latest

    def _run(self) -> None:
        _lower_priority()
        while not self._stop.is_set():
            item = self._next_frame()
            if item is None:
                self._new_frame.wait()
                self._new_frame.clear()
                continue
            try:
                self._consider(*item)
            except Exception:  # an odd frame must not stop the captions (or, in step, the video)
                log.warning("captioner could not look at the frame at %.2fs", item[0].pts, exc_info=True)
            with self._progress:
                self._considered = item[0].pts
                self._progress.notify_all()
            if not self.in_step and self.look_every_s:
                self._stop.wait(self.look_every_s)

    def _consider(self, frame: Frame, style_name: str) -> None:
        """Look for a cut and measure motion on a thumbnail; narrate when a line is due or the scene changed."""
        kind = self._is_cut(frame)
        thumb, hist = self._previous[2], self._previous[3]
        with self._cut_lock:  # a jump between two frames that this look fell between (offer() saw it)
            seen_by_offer, self._cut_seen = self._cut_seen, None
        if kind == "jump" or (seen_by_offer is not None and kind != "now"):
            # The line on screen ends here; whether this is a new scene, a flash (someone crossing the lens) or
            # the lights is decided FLASH_S later (live: at the next look), so no line describes a flash.
            if self._jump is None:
                self._jump = (frame.pts, *((seen_by_offer, None) if kind != "jump" else self._before_jump))
            self._end_active(frame.pts, notify=False)
        cut, refresh = kind == "now", False
        if self._jump is not None and not 0 <= frame.pts - self._jump[0] < FLASH_S - 1e-6:
            (_, before_jump, before_hist), self._jump = self._jump, None
            verdict = self._jump_verdict(thumb, hist, before_jump, before_hist)
            if verdict == "flash":  # the same picture came back: the line goes on as if nothing happened
                self._restore_cut_short()
            else:
                self._tell_cut_short()
                cut, refresh = verdict == "cut", verdict == "lights"
        if kind or seen_by_offer is not None or refresh:  # frames before a jump say nothing about motion after it
            self._history.clear()
        if self._jump is None and thumb.mean() >= BLACK:
            self._last_lit = (thumb, hist)
        observation = Observation(frame.image, frame.pts, style_name, first=self._last_caption is None,
                                  refresh=refresh, photo=self.stills)
        before, long_before = self._earlier(frame.pts, MOTION_GAP_S), self._earlier(frame.pts, 2 * MOTION_GAP_S)
        self._history.append((frame.pts, thumb, frame.image))
        if before is not None:
            observation.previous, observation.motion = before[2], frame_difference(thumb, before[1])
        if long_before is not None and long_before is not before:
            observation.earlier = long_before[2]
        if kind == "now" and self._last_caption is not None:
            self._end_active(frame.pts)  # a line never stays on screen over the next scene
        self._cut_pending |= cut
        if self._jump is not None:
            return  # no line until the jump is known to be a new scene, a flash or the lights (FLASH_S)
        opens_on_black = self._last_caption is None and thumb.mean() < BLACK and not self.stills
        if opens_on_black and frame.pts - self._started_at < 1.0:
            return  # a video that opens on black: the first line waits (up to 1 s) for a picture to describe
        if self._last_caption is not None:
            since = frame.pts - self._last_caption
            due = refresh or since < 0 or since >= self.every_s  # (< 0: the source restarted its clock)
            if due and not refresh and 0 <= since < self.every_s + DISSOLVE_S and self._mid_dissolve(frame.pts, thumb):
                due = False  # a line now would describe a blend of two shots: wait for the fade, up to 1 s
            cut_due = self._cut_pending and (self.in_step or since >= LIVE_MIN_GAP_S)
            if not (due or cut_due):
                return
        observation.scene_changed, self._cut_pending = self._cut_pending, False
        self._last_caption = frame.pts
        self._narrate(observation)

    def _jump_verdict(self, thumb: np.ndarray, hist: np.ndarray, before: np.ndarray,
                      before_hist: np.ndarray | None) -> str:
        """What a jump FLASH_S ago was, from the picture now and the one before it: 'cut' (another scene),
        'flash' (the same picture is back), or 'lights' (into black, or out of it onto the last lit picture)."""
        if thumb.mean() < BLACK:
            return "lights"
        if before.mean() < BLACK:  # out of black: compare with the last picture seen in the light
            if self._last_lit is None:
                return "lights"
            before, before_hist = self._last_lit
            return "cut" if self._different(thumb, hist, before, before_hist) else "lights"
        return "cut" if self._different(thumb, hist, before, before_hist) else "flash"

    def _different(self, thumb: np.ndarray, hist: np.ndarray, other: np.ndarray, other_hist: np.ndarray | None) -> bool:
        """Another scene: the picture differs by SCENE_CHANGE, or by half that with other colours (_is_cut's test)."""
        change = frame_difference(thumb, other)
        return change >= self.scene_change or (other_hist is not None and change >= self.scene_change / 2
                                               and histogram_distance(hist, other_hist) >= HISTOGRAM_CHANGE)

    def _is_cut(self, frame: Frame) -> str:
        """'now' if `frame` surely starts a new scene (the end of a dissolve, a new picture size, the clock going
        back: a new file or photo), 'jump' if the picture jumped (a cut, or a flash: see _consider), else ''.
        Updates the look-to-look state."""
        thumb, hist = thumbnail(frame.image), colour_histogram(frame.image)
        before, self._previous = self._previous, (frame.pts, frame.image.shape, thumb, hist)
        if self._started_at is None:
            self._started_at = frame.pts
        if before is None or before[1] != frame.image.shape or frame.pts < before[0] or self.stills:
            self._thumbs.clear()
            self._thumbs.append((frame.pts, thumb))
            self._jump = None
            return "" if before is None else "now"
        change = frame_difference(thumb, before[2])
        usual = float(np.median(self._changes)) if self._changes else 0.0
        self._changes.append(change)
        if (change >= self.scene_change and change >= CUT_OVER_MOTION * usual) or (
                change >= self.scene_change / 2 and histogram_distance(hist, before[3]) >= HISTOGRAM_CHANGE):
            kind, self._before_jump = "jump", (before[2], before[3])
        else:
            kind = "now" if self._dissolve_ended(frame.pts, thumb) else ""
        if kind:
            self._thumbs.clear()
        self._thumbs.append((frame.pts, thumb))
        return kind

    def _thumb_at(self, pts: float) -> np.ndarray | None:
        """The kept thumbnail nearest to video time `pts`, if one is within a look of it."""
        if not self._thumbs:
            return None
        near_pts, near = min(self._thumbs, key=lambda t: abs(t[0] - pts))
        return near if abs(near_pts - pts) <= max(self.look_every_s, 0.1) else None

    def _mid_dissolve(self, pts: float, thumb: np.ndarray) -> bool:
        """Whether a cross-fade seems under way: over the last DISSOLVE_S / 2 the picture changed by half a cut,
        the frame half-way is the average of the two ends (a pan or people moving are not) and the picture itself
        is changing (not only the light)."""
        start, middle = self._thumb_at(pts - DISSOLVE_S / 2), self._thumb_at(pts - DISSOLVE_S / 4)
        if start is None or middle is None:
            return False
        total = frame_difference(thumb, start)
        return (total >= self.scene_change / 2 and frame_difference(middle, (start + thumb) / 2) <= DISSOLVE_BLEND * total
                and content_difference(thumb, start) >= DISSOLVE_CONTENT / 2)

    def _dissolve_ended(self, pts: float, thumb: np.ndarray) -> bool:
        """Whether a cross-fade into another shot ended at `pts` (see DISSOLVE_S)."""
        start, middle, recent = (self._thumb_at(pts - DISSOLVE_S), self._thumb_at(pts - DISSOLVE_S / 2),
                                 self._thumb_at(pts - MOTION_GAP_S))
        if start is None or middle is None or recent is None:
            return False
        total = frame_difference(thumb, start)
        if total < self.scene_change:
            return False
        blend = frame_difference(middle, (start + thumb) / 2)
        return (blend <= DISSOLVE_BLEND * total and frame_difference(thumb, recent) <= DISSOLVE_SETTLED * total
                and content_difference(thumb, start) >= DISSOLVE_CONTENT)

    def _end_active(self, pts: float, notify: bool = True) -> None:
        """Cut the line on screen short at `pts`. The subscribers that keep times (subtitle files) hear of it
        through their `cut_short(caption)`, from the worker's thread and before any newer line: at once
        (notify), or once a jump is known to be a cut (after a flash the line is restored instead)."""
        with self._lock:
            if not (self.captions and self.captions[-1].start < pts < self.captions[-1].end):
                return
            if self._cut_short is None or self.captions[-1] is not self._cut_short:
                self._cut_original = self.captions[-1]
            self.captions[-1] = self._cut_short = dataclasses.replace(self.captions[-1],
                                                                      duration=pts - self.captions[-1].start)
        if notify:
            self._tell_cut_short()

    def _restore_cut_short(self) -> None:
        """A flash, not a cut: the line it ended is on screen again, with its own end (no subscriber was told)."""
        with self._lock:
            if self._cut_short is not None and self.captions and self.captions[-1] is self._cut_short:
                self.captions[-1] = self._cut_original
            self._cut_short = self._cut_original = None

    def _tell_cut_short(self) -> None:
        """Hand the line ended early (if any) to the subscribers that have a `cut_short` method."""
        with self._lock:
            shortened, self._cut_short, self._cut_original = self._cut_short, None, None
            keepers = [getattr(callback, "cut_short", None) for callback in self._subscribers]
        for cut_short in filter(None, keepers) if shortened is not None else ():
            try:
                cut_short(shortened)
            except Exception:
                log.warning("caption subscriber %r failed", cut_short, exc_info=True)

    def _earlier(self, pts: float, gap: float) -> tuple[float, np.ndarray, np.ndarray] | None:
        """The frame of this scene looked at about `gap` seconds before `pts` (at least 3/4 of it, at most 2 s)."""
        candidates = [h for h in self._history if 0.75 * gap - 1e-6 <= pts - h[0] <= 2.0]
        if not candidates:
            return None
        return min(candidates, key=lambda h: abs(pts - h[0] - gap))

    def _narrate(self, observation: Observation) -> None:
        try:
            text = self.narrator.describe(observation)
        except Exception:  # a failing model must not take the video down; say so in the log
            self.errors += 1
            log.warning("captioner failed on the frame at %.2fs", observation.pts, exc_info=True)
            return
        if text:
            # Live, the video has moved on while the narrator worked: the line starts *now*, or a
            # slow narrator would publish lines whose time on screen is already over.
            start = observation.pts if self.in_step else max(observation.pts, self._newest_pts)
            self.publish(Caption(text, start, self.duration(text), self.lang))

    def duration(self, text: str) -> float:
        """Long enough to read, and on until the next line is due (no gaps), up to MAX_SECONDS."""
        return max(reading_seconds(text, self.lang), min(MAX_SECONDS, self.every_s + HOLD_S))

    def publish(self, caption: Caption) -> None:
        """Store a caption (in start order) and hand it to every subscriber (after the end of a line cut short,
        so a subtitle file writes that line with its real end)."""
        self._tell_cut_short()
        with self._lock:
            i = bisect.bisect_right(self._starts, caption.start)
            self._starts.insert(i, caption.start)
            self.captions.insert(i, caption)
            if len(self.captions) > KEEP_CAPTIONS:
                del self.captions[0], self._starts[0]
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(caption)
            except Exception:
                log.warning("caption subscriber %r failed", callback, exc_info=True)
