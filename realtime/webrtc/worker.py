"""The one inference thread shared by every peer connection.

All peers hand their frames to a single-thread executor, so the model (one Stylizer, possibly on a
GPU) never runs twice at once and style switches land between two frames. Frames are timed on one
server clock (seconds since start) so the captioner sees a single timeline whatever peer they came from.
"""
from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np

from realtime.frames import Frame
from realtime.processor import FrameProcessor


class InferenceWorker:
    """Runs FrameProcessor.process for all peers, one frame at a time, off the event loop."""

    def __init__(self, processor: FrameProcessor):
        self.processor = processor
        self.started_at = time.monotonic()
        self.frames = 0
        self.last_stylize_ms = 0.0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stylecast-inference")

    async def process(self, frame: av.VideoFrame) -> np.ndarray:
        """Decoded browser frame -> HxWx3 uint8 RGB stylized, captioned image."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._process, frame)

    async def set_style(self, weights_path: Path) -> str:
        """Load another checkpoint on the inference thread (between two frames); returns its name."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.processor.set_style, weights_path)

    def _process(self, video_frame: av.VideoFrame) -> np.ndarray:
        now = time.monotonic()
        frame = Frame(image=video_frame.to_ndarray(format="rgb24"), pts=now - self.started_at,
                      captured_at=now, index=self.frames)
        self.frames += 1
        result = self.processor.process(frame)
        self.last_stylize_ms = 1000.0 * result.timings.get("stylize", 0.0)
        return result.image

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
