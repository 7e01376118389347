"""The frame loop: capture, styling, caption overlay and output run at the same time, one thread each.

    capture thread --q--> stylize thread --q--> overlay thread --q--> output (caller's thread) -> sinks

The queues between stages are small and bounded, with two policies:
- live sources (camera, stream, demo): a full queue throws away its *oldest* frame, so every stage
  always works on the newest picture. When the model is slower than the camera, frames are dropped
  (counted) instead of piling up, and glass-to-glass latency stays about one frame interval + one
  model call, however long the session runs.
- files: a full queue makes the producer wait (back-pressure): every frame, in order, none dropped.

Output runs in the caller's thread because GUI toolkits (the preview window) want the main thread,
and so Ctrl-C lands there: the loop then stops the other stages and closes every sink cleanly.
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from common.lifetime import note_stuck
from realtime.frames import Frame
from realtime.sinks import Sink
from realtime.sources import FrameSource

if TYPE_CHECKING:  # the processor pulls in torch: `run` checks its options before loading it
    from realtime.processor import FrameProcessor

END = object()  # end-of-stream marker that travels down the queues
POLL_S = 0.05  # how often idle loops look at the stop flag / let the preview window handle keys
HISTORY = 10_000  # per-stage samples kept for percentiles (a long session keeps the recent ones)


STOP_GRACE_S = 1.0  # after stop(), how long a stage waits for the frame still in the stage before it


class FrameQueue:
    """A bounded hand-over between two stages; `drop_oldest` picks the live or the file policy."""

    def __init__(self, maxsize: int, drop_oldest: bool, stop: threading.Event):
        self.maxsize, self.drop_oldest, self.stop = maxsize, drop_oldest, stop
        self.dropped = 0
        self._items: collections.deque = collections.deque()
        self._stop_seen_at: float | None = None
        self._changed = threading.Condition()

    def put(self, item: Any) -> None:
        """Store `item`; live: evict the oldest when full; files: wait for room (or for stop)."""
        with self._changed:
            if item is not END:
                while len(self._items) >= self.maxsize:
                    if self.drop_oldest:
                        self._items.popleft()
                        self.dropped += 1
                    elif self.stop.is_set():
                        return
                    else:
                        self._changed.wait(POLL_S)
            self._items.append(item)  # END always gets in: the consumer must learn the stream ended
            self._changed.notify_all()

    def get(self, timeout: float | None = None) -> Any:
        """The next item, END once the stream ended or stop() was called, None after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while not self._items:
                if self.stop.is_set():
                    # The stage before may still be finishing a frame (its END follows it): wait a
                    # moment so frames processed before a failure or Ctrl-C are still written.
                    if self._stop_seen_at is None:
                        self._stop_seen_at = time.monotonic()
                    if time.monotonic() - self._stop_seen_at >= STOP_GRACE_S:
                        return END
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                self._changed.wait(POLL_S)
            item = self._items.popleft()
            self._changed.notify_all()
            return item


def percentile_ms(samples: Iterable[float], q: float) -> float:
    values = list(samples)
    return float(np.percentile(values, q)) * 1000.0 if values else float("nan")


@dataclass
class PipelineStats:
    """What the loop measured: counts, per-stage seconds and glass-to-glass latency (capture -> output)."""

    captured: int = 0
    written: int = 0
    dropped: int = 0
    corrupt: int = 0
    started: float = field(default_factory=time.monotonic)
    first_output: float | None = None
    last_output: float | None = None
    latency: collections.deque = field(default_factory=lambda: collections.deque(maxlen=HISTORY))
    stages: dict[str, collections.deque] = field(default_factory=dict)

    def record(self, frame: Frame, output_seconds: float) -> None:
        now = time.monotonic()
        self.written += 1
        self.first_output = self.first_output or now
        self.last_output = now
        self.latency.append(now - frame.captured_at)
        for stage, seconds in dict(frame.timings, output=output_seconds).items():
            self.stages.setdefault(stage, collections.deque(maxlen=HISTORY)).append(seconds)

    @property
    def elapsed(self) -> float:
        return (self.last_output or time.monotonic()) - self.started

    @property
    def fps(self) -> float:
        """Output frames per second, measured from the first output (start-up excluded)."""
        if self.written < 2 or self.first_output is None or self.last_output is None:
            return 0.0
        return (self.written - 1) / max(self.last_output - self.first_output, 1e-9)

    def latency_ms(self, q: float) -> float:
        return percentile_ms(self.latency, q)

    def stage_ms(self) -> dict[str, float]:
        """Median milliseconds per stage."""
        return {name: percentile_ms(values, 50) for name, values in self.stages.items()}

    def summary(self) -> str:
        stages = ", ".join(f"{name} {ms:.1f}" for name, ms in self.stage_ms().items())
        return (f"{self.written} frames written ({self.captured} captured, {self.dropped} dropped, "
                f"{self.corrupt} corrupt skipped) at {self.fps:.1f} fps; latency p50 {self.latency_ms(50):.0f} ms, "
                f"p95 {self.latency_ms(95):.0f} ms; median ms per frame: {stages}")


class Pipeline:
    """Runs `source -> processor -> sinks` until the source ends, a sink asks to quit, or Ctrl-C.

    `max_frames` / `max_seconds` (source pts) stop the source early, e.g. for the demo.
    `on_frame` is called in the output thread after every written frame (progress bars).
    """

    def __init__(self, source: FrameSource, processor: FrameProcessor, sinks: list[Sink], *,
                 max_frames: int | None = None, max_seconds: float | None = None,
                 on_frame: Callable[[PipelineStats], None] | None = None, queue_size: int | None = None):
        self.source, self.processor, self.sinks = source, processor, sinks
        self.max_frames, self.max_seconds, self.on_frame = max_frames, max_seconds, on_frame
        self.stats = PipelineStats()
        self.stop_event = threading.Event()
        live = source.live
        size = queue_size or (1 if live else 4)  # live: one waiting frame per stage bounds the latency
        self.queues = [FrameQueue(size, drop_oldest=live, stop=self.stop_event) for _ in range(3)]
        self.errors: list[BaseException] = []
        self.source_finished = False  # the source reached its end (rather than being stopped)
        self.output_finished = False  # ... and every one of its frames reached the sinks

    # --- the three worker stages ----------------------------------------------------------------

    def _capture(self) -> None:
        out = self.queues[0]
        try:
            frames = iter(self.source.frames())
            while not self.stop_event.is_set():
                started = time.perf_counter()
                frame = next(frames, None)
                if frame is None:
                    self.source_finished = True
                    break
                if self._limit_reached(frame):
                    break
                frame.timings["capture"] = time.perf_counter() - started
                self.stats.captured += 1
                out.put(frame)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self._fail(exc)
        finally:
            out.put(END)

    def _limit_reached(self, frame: Frame) -> bool:
        return ((self.max_frames is not None and self.stats.captured >= self.max_frames)
                or (self.max_seconds is not None and frame.pts >= self.max_seconds))

    def _transform(self, work: Callable[[Frame], Frame], inbox: FrameQueue, out: FrameQueue) -> None:
        try:
            while True:
                frame = inbox.get()
                if frame is END:
                    break
                out.put(work(frame))
        except BaseException as exc:  # noqa: BLE001
            self._fail(exc)
        finally:
            out.put(END)

    def _fail(self, exc: BaseException) -> None:
        self.errors.append(exc)
        self.stop()

    def stop(self) -> None:
        """Ask every stage to finish (any thread); run() then closes the sinks and returns."""
        self.stop_event.set()
        self.source.stop()

    # --- the output stage, in the caller's thread -----------------------------------------------

    def run(self) -> PipelineStats:
        """Run to the end; closes sinks and source; re-raises the first stage error (after closing)."""
        q_captured, q_stylized, q_ready = self.queues
        workers = [
            threading.Thread(target=self._capture, name="capture", daemon=True),
            threading.Thread(target=self._transform, args=(self.processor.stylize, q_captured, q_stylized),
                             name="stylize", daemon=True),
            threading.Thread(target=self._transform, args=(self.processor.overlay, q_stylized, q_ready),
                             name="overlay", daemon=True),
        ]
        for worker in workers:
            worker.start()
        try:
            self._output_loop(q_ready)
        except BaseException as exc:
            if not isinstance(exc, KeyboardInterrupt):
                self.errors.append(exc)
            else:
                self.stop()
                raise
        finally:
            self.stop()
            for worker in workers:
                worker.join(timeout=10.0)
                if worker.is_alive():
                    note_stuck(worker)  # see common.lifetime.leave_now_if_stuck
            self._close_all()
        if self.errors:
            raise self.errors[0]
        return self.stats

    def _output_loop(self, ready: FrameQueue) -> None:
        while True:
            frame = ready.get(timeout=POLL_S)
            if frame is None:  # nothing yet: keep the preview window responsive
                for sink in self.sinks:
                    sink.poll()
                if self._quit_requested():
                    return
                continue
            if frame is END:
                self.output_finished = not self.stop_event.is_set()
                return
            started = time.perf_counter()
            for sink in self.sinks:
                sink.write(frame)
            self._update_counts()
            self.stats.record(frame, time.perf_counter() - started)
            if self.on_frame is not None:
                self.on_frame(self.stats)
            if self._quit_requested():
                return

    def _quit_requested(self) -> bool:
        return any(sink.quit_requested for sink in self.sinks)

    def _update_counts(self) -> None:
        self.stats.dropped = sum(q.dropped for q in self.queues)
        self.stats.corrupt = self.source.corrupt_frames

    def _close_all(self) -> None:
        """Close every sink even if one fails (a recording must be finalised whatever else broke)."""
        self._update_counts()
        interrupted = not (self.source_finished and self.output_finished)  # recordings then end with the video
        for sink in self.sinks:
            try:
                sink.close(interrupted=interrupted)
            except BaseException as exc:  # noqa: BLE001
                self.errors.append(exc)
        try:
            self.source.close()
        except Exception as exc:  # noqa: BLE001
            self.errors.append(exc)
