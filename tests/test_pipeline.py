"""The threaded frame loop: file policy (every frame, in order) and live policy (newest frame, bounded latency)."""
from __future__ import annotations

import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from clips import decode, pattern

from export.backends import Stylizer
from realtime.frames import Frame
from realtime.pipeline import END, FrameQueue, Pipeline
from realtime.processor import FrameProcessor
from realtime.recorder import FileSink
from realtime.sinks import Sink
from realtime.sources import FrameSource, SourceLost
from training.checkpoint import StyleInfo


class InvertStylizer(Stylizer):
    """A stand-in model with a known output (255 - frame) and a chosen speed."""

    name = "test-invert"

    def __init__(self, seconds_per_frame: float = 0.0, fail_at: int | None = None):
        self.seconds_per_frame, self.fail_at, self.calls = seconds_per_frame, fail_at, 0
        self.info = StyleInfo("invert", Path("invert"), {})

    def load_style(self, style):
        self.info = StyleInfo(str(style), Path(str(style)), {})
        return self.info

    def __call__(self, frame, strength=1.0):
        self.calls += 1
        if self.fail_at is not None and self.calls > self.fail_at:
            raise RuntimeError("model exploded")
        time.sleep(self.seconds_per_frame)
        return 255 - frame


class SyntheticSource(FrameSource):
    """`count` pattern frames at `fps`; live ones run on their own clock like a camera's sensor.

    A live frame's captured_at is when the sensor took it (start + index / fps), whether or not
    anyone was reading at that moment, exactly what makes queued frames stale.
    """

    def __init__(self, count: int, fps: float = 30.0, live: bool = False, lost_after: int | None = None,
                 size: tuple[int, int] = (64, 48)):
        super().__init__()
        self.count, self.fps, self.live, self.lost_after, self.size = count, fps, live, lost_after, size
        self.time_base = Fraction(1, 1000)
        self.closed = False

    def frames(self):
        start = time.monotonic()
        for index in range(self.count):
            if self.stopping:
                return
            if self.lost_after is not None and index == self.lost_after:
                raise SourceLost("camera unplugged")
            taken = start + index / self.fps
            if self.live:
                self._sleep_until(taken)
            captured_at = taken if self.live else time.monotonic()
            yield Frame(pattern(index, *self.size), index / self.fps, captured_at, index, self.time_base)

    def close(self):
        self.closed = True


class ListSink(Sink):
    def __init__(self, quit_after: int | None = None):
        self.frames: list[Frame] = []
        self.quit_after, self.closed_with = quit_after, None

    def write(self, frame):
        self.frames.append(frame)
        self.quit_requested = self.quit_after is not None and len(self.frames) >= self.quit_after

    def close(self, interrupted=False):
        self.closed_with = "interrupted" if interrupted else "finished"


def run(source, stylizer, *sinks, **options):
    pipeline = Pipeline(source, FrameProcessor(stylizer), list(sinks), **options)
    return pipeline, pipeline.run()


def test_live_queue_keeps_the_newest_and_counts_the_rest():
    queue = FrameQueue(1, drop_oldest=True, stop=threading.Event())
    for item in range(5):
        queue.put(item)
    queue.put(END)
    assert queue.get() == 4 and queue.get() is END and queue.dropped == 4


def test_file_queue_waits_for_room_instead_of_dropping():
    queue = FrameQueue(1, drop_oldest=False, stop=threading.Event())
    queue.put("first")
    producer = threading.Thread(target=queue.put, args=("second",))
    producer.start()
    producer.join(0.3)
    assert producer.is_alive(), "put into a full file queue must wait"
    assert queue.get() == "first"
    producer.join(2)
    assert queue.get() == "second" and queue.dropped == 0


def test_files_get_every_frame_in_order_even_with_a_slow_model():
    sink = ListSink()
    pipeline, stats = run(SyntheticSource(24), InvertStylizer(0.005), sink)
    assert [f.index for f in sink.frames] == list(range(24))
    assert stats.dropped == 0 and stats.written == 24
    assert np.array_equal(sink.frames[5].image, 255 - pattern(5, 64, 48))
    assert set(stats.stage_ms()) >= {"capture", "stylize", "overlay", "output"}
    assert sink.closed_with == "finished"


def test_live_source_with_a_slow_model_drops_frames_and_latency_stays_bounded():
    """Camera at 200 fps, model at 25 fps: stale frames are dropped, never queued; latency stays ~1 model call."""
    model_seconds = 0.04
    sink = ListSink()
    pipeline, stats = run(SyntheticSource(80, fps=200, live=True), InvertStylizer(model_seconds), sink)
    assert stats.captured == 80
    assert stats.dropped > 40, f"only {stats.dropped} dropped: frames are being queued"
    assert stats.written + stats.dropped == stats.captured
    assert max(stats.latency) < 4 * model_seconds + 0.1, f"latency grew to {max(stats.latency):.3f} s"
    indices = [f.index for f in sink.frames]
    assert indices == sorted(indices) and indices[-1] >= 75, "the newest frames must get through"

    # the peer: the same camera through the file policy queues every frame, and latency grows with time
    queued = Pipeline(SyntheticSource(80, fps=200, live=True), FrameProcessor(InvertStylizer(model_seconds)), [])
    for queue in queued.queues:
        queue.drop_oldest = False
    queued_stats = queued.run()
    assert queued_stats.dropped == 0 and max(queued_stats.latency) > 5 * max(stats.latency)


def test_a_failing_stage_stops_the_loop_and_still_closes_the_sinks():
    sink, source = ListSink(), SyntheticSource(50)
    with pytest.raises(RuntimeError, match="model exploded"):
        run(source, InvertStylizer(fail_at=3), sink)
    assert len(sink.frames) == 3 and sink.closed_with == "interrupted" and source.closed


def test_a_sink_can_ask_to_quit():
    sink = ListSink(quit_after=4)
    pipeline, stats = run(SyntheticSource(10_000, fps=100, live=True), InvertStylizer(), sink)
    assert stats.written == 4 and pipeline.stop_event.is_set() and sink.closed_with == "interrupted"


def test_max_frames_stops_the_source():
    sink = ListSink()
    run(SyntheticSource(100), InvertStylizer(), sink, max_frames=7)
    assert len(sink.frames) == 7


def test_unplugged_camera_leaves_a_closed_playable_recording(tmp_path):
    camera = SyntheticSource(1000, fps=60, live=True, lost_after=15, size=(64, 48))
    recorder = FileSink(tmp_path / "cam.mp4", fps=60, time_base=camera.time_base)
    with pytest.raises(SourceLost):
        run(camera, InvertStylizer(), recorder)
    recording = decode(tmp_path / "cam.mp4")
    assert len(recording.frames) == recorder.frames_written >= 10
    assert recording.frames[0].shape == (48, 64, 3)
