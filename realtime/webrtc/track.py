"""The server-side video track of one peer: the browser's camera in, stylized frames out.

Shaped like aiortc's examples/server VideoTransformTrack, with one difference that keeps latency
bounded: a reader task always holds only the *newest* decoded camera frame. When inference is slower
than the camera, older frames are dropped instead of queueing (a queue would add a frame time of
delay per frame behind, forever).
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from realtime.webrtc.worker import InferenceWorker

log = logging.getLogger(__name__)


class StylizedTrack(MediaStreamTrack):
    """recv(): newest camera frame -> InferenceWorker -> new frame with the camera frame's pts/time_base."""

    kind = "video"

    def __init__(self, source: MediaStreamTrack, worker: InferenceWorker,
                 on_output: Callable[[np.ndarray], None] | None = None, input_id: int = 0):
        super().__init__()
        self.source = source
        self.worker = worker
        self.input_id = input_id  # the peer: the worker keeps each input's frame-to-frame state apart
        self.on_output = on_output
        self.received = 0
        self.dropped = 0
        self.sent = 0
        self.errors = 0  # frames that could not be stylized (sent unchanged)
        self.last_delay_ms = 0.0  # camera frame arrival -> stylized frame ready, on the server
        self._newest: tuple[av.VideoFrame, float] | None = None
        self._arrived = asyncio.Event()
        self._source_ended = False
        self._reader = asyncio.ensure_future(self._read_source())

    async def _read_source(self) -> None:
        try:
            while True:
                frame = await self.source.recv()
                self.received += 1
                if self._newest is not None:
                    self.dropped += 1  # not yet taken by recv(): it is stale now, the newer one wins
                self._newest = (frame, time.monotonic())
                self._arrived.set()
        except MediaStreamError:
            self._source_ended = True
            self._arrived.set()

    async def recv(self) -> av.VideoFrame:
        while self._newest is None:
            if self._source_ended or self.readyState != "live":
                self.stop()
                raise MediaStreamError
            self._arrived.clear()
            await self._arrived.wait()
        camera_frame, arrived_at = self._newest
        self._newest = None
        try:
            image = await self.worker.process(camera_frame, self.input_id)
        except Exception:  # noqa: BLE001 - a failing backend must not freeze the page's video for good
            self.errors += 1
            if self.errors == 1:
                log.exception("stylizing a frame failed; sending the camera picture unchanged")
            image = camera_frame.to_ndarray(format="rgb24")
        self.last_delay_ms = 1000.0 * (time.monotonic() - arrived_at)
        if self.on_output is not None:
            self.on_output(image)
        styled = av.VideoFrame.from_ndarray(image, format="rgb24")
        styled.pts = camera_frame.pts
        styled.time_base = camera_frame.time_base
        self.sent += 1
        return styled

    def stop(self) -> None:
        super().stop()
        self._reader.cancel()
        self._arrived.set()
