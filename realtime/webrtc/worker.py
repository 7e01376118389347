"""The one inference thread shared by every peer connection, and the one thread that switches styles.

All peers hand their frames to a single-thread executor, so the model (one Stylizer, possibly on a
GPU) never runs twice at once. Frames are timed on one server clock (seconds since start) so the
captioner sees a single timeline whatever peer they came from. Style switches run on a thread of their
own (StyleSwitcher): the slow part (a picture's style code, an export) never holds up a frame, and the
switch itself lands between two frames (FrameProcessor.set_style).
"""
from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np

from common.errors import UserError, first_line
from realtime.frames import Frame
from realtime.processor import FrameProcessor
from training.checkpoint import StyleInfo

log = logging.getLogger(__name__)


class InferenceWorker:
    """Runs FrameProcessor.process for all peers, one frame at a time, off the event loop."""

    def __init__(self, processor: FrameProcessor):
        self.processor = processor
        self.started_at = time.monotonic()
        self.frames = 0
        self.frames_of: dict[int, int] = {}  # per input (peer): its own running frame number
        self.last_stylize_ms = 0.0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stylecast-inference")

    async def process(self, frame: av.VideoFrame, input_id: int = 0) -> np.ndarray:
        """Decoded browser frame of one input (a peer's camera) -> HxWx3 uint8 RGB stylized, captioned image."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._process, frame, input_id)

    def forget(self, input_id: int) -> None:
        """An input has gone: drop what was kept for it."""
        self.frames_of.pop(input_id, None)
        self.processor.forget(input_id)

    def _process(self, video_frame: av.VideoFrame, input_id: int) -> np.ndarray:
        now = time.monotonic()
        index = self.frames_of.get(input_id, 0)
        frame = Frame(image=video_frame.to_ndarray(format="rgb24"), pts=now - self.started_at,
                      captured_at=now, index=index, input_id=input_id)
        self.frames_of[input_id] = index + 1
        self.frames += 1
        result = self.processor.process(frame)
        self.last_stylize_ms = 1000.0 * result.timings.get("stylize", 0.0)
        return result.image

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class StyleSwitcher:
    """Style switches (a checkpoint, a picture, a blend spec) one at a time on their own thread, newest first.

    Frames keep flowing in the old style while the new one is prepared. A dragged blend slider asks for
    dozens of styles a second: a request still waiting for its turn when a newer one arrives is dropped,
    so only the switch under way and the latest one are ever made.
    """

    def __init__(self, processor: FrameProcessor):
        self.processor = processor
        self.requested = 0  # switches asked for so far (the tests watch requests arrive)
        self.made = 0  # ... and made (not dropped)
        self._turn = asyncio.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stylecast-style")

    async def switch(self, style: str | Path, droppable: bool = True) -> StyleInfo | None:
        """Switch to `style`; its StyleInfo once frames use it, or None when a newer request made it moot
        (only if droppable: an upload is always made, its page waits for the answer). UserError as set_style."""
        self.requested += 1
        ticket = self.requested
        async with self._turn:
            if droppable and ticket != self.requested:
                return None
            self.made += 1
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._switch, style)

    def _switch(self, style: str | Path) -> StyleInfo:
        try:
            self.processor.set_style(style)
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - an export or engine failing: the page hears one line, the log the rest
            log.exception("style switch to %s failed", style)
            raise UserError(f"could not switch to that style ({first_line(exc)})") from None
        return self.processor.stylizer.info  # this thread is the only one that switches: it is the new style

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
