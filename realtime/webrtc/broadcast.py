"""What recvonly viewer pages (an OBS Browser Source) show: the output of the first active sender.

Senders register in the order they connect; only the earliest one still connected is published.
While nobody sends, viewers get a dark placeholder frame a few times a second so the video element
keeps playing (and OBS shows black instead of a frozen last image).
"""
from __future__ import annotations

import asyncio
import time
from fractions import Fraction

import av
import numpy as np
from aiortc import MediaStreamTrack

VIEWER_CLOCK = Fraction(1, 90000)  # the RTP video clock: 90 kHz
IDLE_FRAME_S = 0.2  # placeholder / repeat rate while no new frame arrives
PLACEHOLDER_SIZE = (360, 640)  # H, W


class Broadcast:
    """Newest stylized image of the first active sender; viewers wait for the next one."""

    def __init__(self) -> None:
        self._senders: list[int] = []
        self._image: np.ndarray | None = None
        self._seq = 0
        self._changed = asyncio.Event()

    @property
    def active_sender(self) -> int | None:
        return self._senders[0] if self._senders else None

    def add_sender(self, sender_id: int) -> None:
        self._senders.append(sender_id)

    def remove_sender(self, sender_id: int) -> None:
        if sender_id in self._senders:
            was_active = self._senders[0] == sender_id
            self._senders.remove(sender_id)
            if was_active:
                self._publish(None)  # back to the placeholder until the next sender's frame

    def publish(self, sender_id: int, image: np.ndarray) -> None:
        """image: HxWx3 uint8 RGB; ignored unless `sender_id` is the first active sender."""
        if sender_id == self.active_sender:
            self._publish(image)

    def _publish(self, image: np.ndarray | None) -> None:
        self._image = image
        self._seq += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def next(self, after_seq: int, timeout: float) -> tuple[int, np.ndarray | None]:
        """The newest (seq, image) once it is newer than `after_seq`, or the current one after `timeout`."""
        if self._seq == after_seq:
            try:
                await asyncio.wait_for(self._changed.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        return self._seq, self._image


class ViewerTrack(MediaStreamTrack):
    """A recvonly page's video: the broadcast's frames, timed on the viewer's own 90 kHz clock."""

    kind = "video"

    def __init__(self, broadcast: Broadcast):
        super().__init__()
        self.broadcast = broadcast
        self._seq = -1
        self._started = time.monotonic()
        self._placeholder = np.full((*PLACEHOLDER_SIZE, 3), 16, np.uint8)

    async def recv(self) -> av.VideoFrame:
        self._seq, image = await self.broadcast.next(self._seq, IDLE_FRAME_S)
        frame = av.VideoFrame.from_ndarray(self._placeholder if image is None else image, format="rgb24")
        frame.pts = int((time.monotonic() - self._started) / VIEWER_CLOCK)
        frame.time_base = VIEWER_CLOCK
        return frame
