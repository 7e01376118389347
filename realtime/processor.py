"""What happens to one frame, shared by `stream.py run` and the WebRTC server: stylize (the whole frame, or
only the background or the person), then captions.

Controls (style, strength, style on/off, captions on/off) can change from another thread at any
time (hotkeys, the browser's data channel); a lock makes a style switch atomic with respect to
the frame being processed, so the stream never stops.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from common.errors import UserError
from export.backends import Stylizer
from realtime.captioner.base import CaptionRenderer, CaptionSource
from realtime.colour import keep_colours
from realtime.frames import Frame
from realtime.segmentation import APPLY_MODES, PersonMasks, check_model_installed, composite


class FrameProcessor:
    """stylizer -> (optional) caption overlay, with live controls."""

    def __init__(
        self,
        stylizer: Stylizer,
        strength: float = 1.0,
        captions: CaptionSource | None = None,
        renderer: CaptionRenderer | None = None,
        keep_colours: bool = False,
        apply: str = "all",
        mask_every: int | None = None,
    ):
        self.stylizer = stylizer
        self.strength = strength
        self.style_enabled = True
        self.keep_colours = keep_colours  # the style's strokes, the video's own colours (realtime/colour.py)
        self.captions = captions
        self.renderer = renderer
        self.captions_enabled = captions is not None and renderer is not None
        self._lock = threading.Lock()
        self.masks: PersonMasks | None = None  # made when first needed (it loads the segmentation model)
        self.mask_every = mask_every  # None = auto (realtime/segmentation.py)
        self.stills = False  # every frame a photo of its own (an image folder): no mask is carried over
        self._mask_thread: ThreadPoolExecutor | None = None
        self.apply = "all"
        self.set_apply(apply)

    @property
    def style_name(self) -> str:
        return self.stylizer.info.name

    def set_style(self, style: str | Path) -> str:
        """Switch style between two frames; returns the new style's name. The slow part (a picture's code,
        an export) happens first, outside the lock, so frames keep flowing in the old style meanwhile."""
        from common.threads import run_in_background
        from export.backends import TorchCPUStylizer

        prepared = run_in_background(lambda: self.stylizer.prepare(style),
                                     single_torch_thread=not isinstance(self.stylizer.innermost, TorchCPUStylizer))
        with self._lock:
            return self.stylizer.load_style(prepared).name

    def set_apply(self, apply: str) -> str:
        """Style 'all' of the frame, only the 'background' or only the 'person'. The person mask is worked out
        on a thread of its own while the style network runs (their costs overlap on two cores)."""
        if apply not in APPLY_MODES:
            raise UserError(f"--apply must be one of {', '.join(APPLY_MODES)}, not '{str(apply)[:40]}'")
        if apply != "all" and self.masks is None:
            check_model_installed()
            self.masks = PersonMasks(self.mask_every)
        self.apply = apply
        return apply

    def forget(self, input_id: int) -> None:
        """One of the inputs (a WebRTC peer) has gone: drop its frame-to-frame state."""
        if self.masks is not None:
            self.masks.forget(input_id)

    def close(self) -> None:
        """End the mask thread (a frame still in it finishes first); a later frame starts a new one."""
        thread, self._mask_thread = self._mask_thread, None
        if thread is not None:
            thread.shutdown(wait=True)

    def set_strength(self, strength: float) -> None:
        self.strength = min(1.0, max(0.0, float(strength)))

    def process(self, frame: Frame) -> Frame:
        """Returns a new Frame (same pts/captured_at) with the stylized, captioned image."""
        return self.overlay(self.stylize(frame))

    def stylize(self, frame: Frame) -> Frame:
        """First half of process(): hand the camera frame to the captioner, then apply the style.

        Split out so the frame loop can run styling and caption overlay as two concurrent stages.
        """
        if self.captions is not None:
            self.captions.offer(frame, self.style_name)  # the captioner sees the camera, not the style
        started = time.perf_counter()
        image = frame.image
        apply, styled = self.apply, self.style_enabled and self.strength > 0.0
        mask, timings = None, dict(frame.timings)
        if styled and apply != "all" and self.masks is not None:
            if self._mask_thread is None:
                self._mask_thread = ThreadPoolExecutor(1, thread_name_prefix="stylecast-mask")
            mask = self._mask_thread.submit(self.masks, frame, self.stills)  # beside the style network
        with self._lock:
            if styled:
                image = self.stylizer(image, self.strength)
        if styled and self.keep_colours:  # after the lock: a style switch need not wait for it
            image = keep_colours(frame.image, image)
        if mask is not None:
            person, timings["mask"] = mask.result()
            image = composite(frame.image, image, person, apply)
        timings["stylize"] = time.perf_counter() - started
        return replace(frame, image=image, timings=timings)

    def overlay(self, frame: Frame) -> Frame:
        """Second half of process(): burn in the caption active at frame.pts (if captions are on)."""
        started = time.perf_counter()
        image = frame.image
        if self.captions is not None and self.captions_enabled and self.renderer is not None:
            image = self.renderer.draw(image, self.captions.active(frame.pts), frame.pts)
        return replace(frame, image=image, timings=dict(frame.timings, overlay=time.perf_counter() - started))

